/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * maps.h: the BPF maps of l2tpx_xdp.o, laid out as l2tpx_abi.h says, and the
 * small helpers that touch them (config read, counting, redirect).
 *
 * Both programs live in one object, so they share the config and the
 * counters; each side has its own XSKMAP, because an AF_XDP socket is bound
 * to one (interface, queue) pair and a redirect to a socket of another
 * interface is dropped by the kernel.
 */
#ifndef L2TPX_MAPS_H
#define L2TPX_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "l2tpx_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l2tpx_config);
} L2TPX_MAP_CONFIG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L2TPX_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} L2TPX_MAP_COUNTERS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, L2TPX_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} L2TPX_MAP_XSKS_ACCESS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, L2TPX_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} L2TPX_MAP_XSKS_CORE SEC(".maps");

/*
 * The subscriber maps are a steering filter only: the session table proper
 * lives in shared memory owned by the control plane (ARCHITECTURE §2), which
 * mirrors each subscriber address here when a session comes up and removes
 * it when it goes down. Not preallocated: the maps are sized for the largest
 * box, and updates come from user space, never from a tracing context.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, L2TPX_MAX_SUBS_V4);
	__type(key, __be32);
	__type(value, __u32);
} L2TPX_MAP_SUBS_V4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, L2TPX_MAX_SUBS_V6);
	__type(key, struct l2tpx_v6_key);
	__type(value, __u32);
} L2TPX_MAP_SUBS_V6 SEC(".maps");

/* Adds one to a per-CPU counter (no atomics: one writer per CPU) and
 * returns the action, so that every exit reads `return count(X, action)`. */
static __always_inline int count(__u32 idx, int action)
{
	__u64 *c = bpf_map_lookup_elem(&L2TPX_MAP_COUNTERS, &idx);

	if (c)
		*c += 1;
	return action;
}

/* The L2TP UDP port in force, host byte order. */
static __always_inline __u16 config_l2tp_port(void)
{
	__u32 zero = 0;
	struct l2tpx_config *cfg = bpf_map_lookup_elem(&L2TPX_MAP_CONFIG, &zero);

	if (cfg && cfg->l2tp_port)
		return cfg->l2tp_port;
	return L2TPX_DEFAULT_L2TP_PORT;
}

/*
 * Redirects to the XSK of the receiving queue and counts the outcome.
 * bpf_redirect_map returns its flags (XDP_PASS) when the queue has no
 * socket, so a packet is never lost while a worker restarts: it goes to the
 * kernel and is counted as `no_xsk`.
 */
static __always_inline int redirect_xsk(void *xsks, __u32 queue, __u32 ok, __u32 no_xsk)
{
	long ret = bpf_redirect_map(xsks, queue, XDP_PASS);

	if (ret == XDP_REDIRECT)
		return count(ok, XDP_REDIRECT);
	return count(no_xsk, (int)ret);
}

#endif /* L2TPX_MAPS_H */
