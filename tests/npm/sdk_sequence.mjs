// Reference client: the official openai npm SDK runs a full batch sequence against the emulator.
//
// Usage: node tests/npm/sdk_sequence.mjs --url http://127.0.0.1:PORT --dialect azure|openai [--key KEY]
//   azure:  AzureOpenAI({endpoint, apiKey, apiVersion: "2024-10-21"}), no `deployment` (api-key header)
//   openai: OpenAI({baseURL: URL + "/v1", apiKey}) (Authorization: Bearer)
// Prints one "step: detail" line per step and "OK" at the end; exits 1 with "FAIL: ..." otherwise.
import { Buffer, File as NodeFile } from "node:buffer";
import { parseArgs } from "node:util";

// Node 18 has no global File; the SDK's upload helpers need one (its error message says to do this).
if (typeof globalThis.File === "undefined") {
  globalThis.File = NodeFile;
}
const { default: OpenAI, AzureOpenAI, NotFoundError, toFile } = await import("openai");

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    dialect: { type: "string", default: "azure" },
    key: { type: "string", default: "test-key" },
    requests: { type: "string", default: "3" },
    timeout: { type: "string", default: "20" },
  },
});
if (!args.url) {
  console.error("usage: sdk_sequence.mjs --url URL [--dialect azure|openai] [--key KEY]");
  process.exit(2);
}
const azure = args.dialect === "azure";
const client = azure
  ? new AzureOpenAI({ endpoint: args.url, apiKey: args.key, apiVersion: "2024-10-21" })
  : new OpenAI({ baseURL: `${args.url}/v1`, apiKey: args.key });
const model = azure ? "gpt-4o-batch" : "gpt-4o-mini";
const endpoint = azure ? "/chat/completions" : "/v1/chat/completions";
const deadline = Date.now() + Number(args.timeout) * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function step(name, detail) {
  console.log(`${name}: ${detail}`);
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function pollBatch(id, wanted) {
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (wanted.includes(batch.status.toLowerCase())) return batch;
    check(Date.now() < deadline, `batch ${id} stuck in ${batch.status}, wanted ${wanted}`);
    await sleep(50);
  }
}

async function main() {
  const n = Number(args.requests);
  const ids = Array.from({ length: n }, (_, i) => `task-${i}`);
  const jsonl = ids
    .map((id) =>
      JSON.stringify({
        custom_id: id,
        method: "POST",
        url: "/v1/chat/completions",
        body: { model, messages: [{ role: "user", content: `Question ${id}?` }] },
      }),
    )
    .join("\n") + "\n";

  const file = await client.files.create({
    file: await toFile(Buffer.from(jsonl), "sdk.jsonl"),
    purpose: "batch",
  });
  step("upload", `${file.id} ${file.status} ${file.bytes} bytes`);
  const ready = await client.files.waitForProcessing(file.id, { pollInterval: 50, maxWait: 20000 });
  check(ready.status === "processed", `file ended ${ready.status}`);
  step("file", ready.status);

  const batch = await client.batches.create({
    input_file_id: file.id,
    endpoint,
    completion_window: "24h",
    metadata: { run: "sdk" },
  });
  step("create", `${batch.status}`);
  const done = await pollBatch(batch.id, ["completed", "failed"]);
  check(done.status === "completed", `batch ended ${done.status}: ${JSON.stringify(done.errors)}`);
  check(done.request_counts.total === n && done.request_counts.completed === n, "request counts");
  step("batch", `${done.status} ${done.request_counts.completed}/${done.request_counts.total}`);

  const content = await client.files.content(done.output_file_id);
  const lines = (await content.text()).split("\n").filter((l) => l.length > 0);
  const got = lines.map((l) => JSON.parse(l).custom_id).sort();
  check(JSON.stringify(got) === JSON.stringify([...ids].sort()), `output custom_ids ${got}`);
  check(lines.every((l) => JSON.parse(l).response.status_code === 200), "every response is a 200");
  step("output", `${lines.length} lines`);

  const second = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" });
  const cancelling = await client.batches.cancel(second.id);
  check(["cancelling", "cancelled"].includes(cancelling.status), `cancel answered ${cancelling.status}`);
  step("cancel", cancelling.status);
  const cancelled = await pollBatch(second.id, ["cancelled"]);
  step("cancelled", cancelled.status);

  const created = [batch.id, second.id];
  for (let i = 0; i < 3; i++) {
    const extra = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" });
    created.push(extra.id);
  }
  let pages = 0;
  const listed = [];
  const first = await client.batches.list({ limit: 2 });
  for await (const page of first.iterPages()) {
    pages += 1;
    for (const b of page.data) listed.push(b.id);
  }
  check(pages > 1, `only ${pages} page(s)`);
  check(created.every((id) => listed.includes(id)), "every created batch is listed");
  check(new Set(listed).size === listed.length, "no batch listed twice");
  const auto = [];
  for await (const b of client.batches.list({ limit: 2 })) auto.push(b.id);
  check(JSON.stringify(auto) === JSON.stringify(listed), "auto-pagination sees the same batches");
  step("list", `${listed.length} batches in ${pages} pages`);

  const deleted = await client.files.delete(file.id);
  check(deleted.deleted === true && deleted.id === file.id, "delete answer");
  try {
    await client.files.retrieve(file.id);
    throw new Error("deleted file is still there");
  } catch (err) {
    check(err instanceof NotFoundError, `expected a 404, got ${err}`);
  }
  step("delete", "deleted");
  console.log("OK");
}

main().catch((err) => {
  console.log(`FAIL: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
