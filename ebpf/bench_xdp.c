/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * bench_xdp.c: the traffic generator's receive filter (l2tpx-bench,
 * `--generator afxdp`), attached to the bench's own veth ends (the LAC's
 * and the core host's), never to the system under test.
 *
 * It sends ONLY test traffic to the AF_XDP socket of the receiving queue:
 *
 *   - IPv4 UDP to the configured plain port (the core host's UP_PORT; the
 *     subscriber's DOWN_PORT behind the bare forwarder), and
 *   - L2TPv2 data messages (UDP source or destination port 1701, T = 0)
 *     whose PPP protocol is IPv4 (0x0021): downstream to the LAC, and the
 *     still-encapsulated upstream the bare forwarder hands the core host.
 *
 * Everything else (ARP, L2TP control messages, PPP LCP/IPCP/auth, ...)
 * passes to the kernel, where the emulator's UDP sockets keep running the
 * control channels. Never drops; a queue without a socket passes too.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"

#define BENCH_L2TP_PORT 1701

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* [0]: the plain UDP destination port to steer, host byte order (0: none). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, L2TPX_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} bench_xsks SEC(".maps");

static __always_inline int is_test_traffic(struct xdp_md *ctx)
{
	struct frame f = frame_of(ctx);
	struct l2 l2;
	struct ip4 ip;
	struct udp udp;
	struct l2tp l2tp;
	__u32 zero = 0, *plain;
	__u16 proto;

	if (parse_eth(&f, &l2) || l2.proto != ETH_P_IP)
		return 0;
	if (parse_ipv4(&f, l2.l3_off, &ip) || ipv4_is_fragment(&ip) ||
	    ip.protocol != IPPROTO_UDP)
		return 0;
	if (parse_udp(&f, &ip, &udp))
		return 0;
	plain = bpf_map_lookup_elem(&bench_config, &zero);
	if (plain && *plain && udp.dport == *plain)
		return 1;
	if (udp.sport != BENCH_L2TP_PORT && udp.dport != BENCH_L2TP_PORT)
		return 0;
	if (parse_l2tp(&f, &udp, &l2tp) || parse_ppp(&f, &l2tp, &proto))
		return 0;
	return proto == PPP_IPV4;
}

SEC("xdp")
int bench_steer(struct xdp_md *ctx)
{
	if (!is_test_traffic(ctx))
		return XDP_PASS;
	return bpf_redirect_map(&bench_xsks, ctx->rx_queue_index, XDP_PASS);
}
