/* SPDX-License-Identifier: MIT */
/* notify.h: systemd readiness notification (sd_notify protocol, without libsystemd). */
#ifndef BATCHFS_NOTIFY_H
#define BATCHFS_NOTIFY_H

/*
 * Sends state ("READY=1", "STOPPING=1", "STATUS=...") to the socket named by
 * $NOTIFY_SOCKET, as a service of Type=notify expects; does nothing when the
 * variable is unset. Never fails the caller. Thread-safe.
 */
void notify_systemd(const char *state);

#endif
