/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * l2tpx_xdp.c: the two XDP programs of the l2tpx data plane (ARCHITECTURE §1).
 *
 * l2tp_steer (access interface) sends L2TPv2 data messages that carry PPP
 * IPv4 or IPv6 to the AF_XDP socket of the receiving queue; everything else
 * goes to the kernel, where the control plane's UDP 1701 socket receives the
 * L2TP control messages and the PPP control frames (LCP, PAP, CHAP, IPCP,
 * IPv6CP).
 *
 * core_steer (core interface) sends packets whose destination is a
 * subscriber (an IPv4 address in subs_v4, an IPv6 /64 in subs_v6) to the
 * AF_XDP socket of the receiving queue, with the subscriber's session slot
 * in the frame's metadata (struct l2tpx_meta); everything else goes to the
 * kernel.
 *
 * Verdicts. Neither program ever drops: anything it does not steer goes to
 * the kernel with XDP_PASS, and every exit bumps exactly one counter
 * (l2tpx_abi.h), so that the XDP counters add up to the packets received.
 *
 *   layer          condition                                 verdict, counter
 *   Ethernet       shorter than 14 (18 with a tag)           PASS, *_TRUNCATED
 *                  EtherType not IPv4 (access)               PASS, L2TP_PASS_NOT_IPV4
 *                  neither IPv4 nor IPv6 (core)              PASS, CORE_PASS_NOT_IP
 *   IPv4 / IPv6    header or Total/Payload Length past frame PASS, *_TRUNCATED
 *                  Version wrong, IHL < 5, Total < IHL       PASS, *_MALFORMED
 *                  MF or offset != 0 (access)                PASS, L2TP_PASS_FRAGMENT
 *                  protocol not UDP (access)                 PASS, L2TP_PASS_NOT_UDP
 *   UDP            header past the datagram                  PASS, L2TP_PASS_TRUNCATED
 *                  Length < 8 or past the datagram           PASS, L2TP_PASS_MALFORMED
 *                  dst port != config (1701)                 PASS, L2TP_PASS_NOT_L2TP_PORT
 *   L2TP           fewer than 2 bytes, or optional fields
 *                  or offset pad past the datagram           PASS, L2TP_PASS_TRUNCATED
 *                  Ver != 2                                  PASS, L2TP_PASS_BAD_VERSION
 *                  T = 1 (control)                           PASS, L2TP_PASS_CONTROL
 *                  Offset Size > L2TPX_MAX_OFFSET_PAD        PASS, L2TP_PASS_OFFSET_LIMIT
 *                  Length < header or past the datagram      PASS, L2TP_PASS_MALFORMED
 *   PPP            no protocol byte(s) before the end        PASS, L2TP_PASS_TRUNCATED
 *                  FF not followed by 03, even 2nd octet     PASS, L2TP_PASS_MALFORMED
 *                  protocol >= 0x8000 (LCP, auth, NCPs)      PASS, L2TP_PASS_PPP_CONTROL
 *                  other protocols                           PASS, L2TP_PASS_PPP_OTHER
 *                  0x0021 IPv4 / 0x0057 IPv6                 REDIRECT, L2TP_REDIRECT_V4/V6
 *   core lookup    IPv4 dst not in subs_v4                   PASS, CORE_PASS_V4_MISS
 *                  IPv6 dst /64 not in subs_v6               PASS, CORE_PASS_V6_MISS
 *                  hit                                       REDIRECT, CORE_REDIRECT_V4/V6
 *   XSK            no socket on the receiving queue          PASS, *_PASS_NO_XSK
 *
 * Why PASS rather than DROP for truncated and malformed packets: the kernel
 * (IpInHdrErrors, IpInTruncatedPkts, UDP InErrors) and the control plane
 * (its malformed-message counters) already count and discard them, with the
 * context to log them usefully, and a PASS never loses a packet to a parser
 * bug here. Such packets are rare; a flood of them costs the slow path, not
 * the workers. Build with -DL2TPX_BAD_ACTION=XDP_DROP to drop them in XDP
 * instead (the counters stay the same).
 *
 * Outer fragments go to the kernel, which reassembles them and delivers the
 * datagram to the control plane's socket; the data path never reassembles.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "l2tpx_abi.h"
#include "maps.h"
#include "parse.h"

#ifndef L2TPX_BAD_ACTION
#define L2TPX_BAD_ACTION XDP_PASS
#endif

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* ---- access side ---- */

static __always_inline int l2tp_bad(int rc)
{
	if (rc == PARSE_TRUNCATED)
		return count(L2TPX_CNT_L2TP_PASS_TRUNCATED, L2TPX_BAD_ACTION);
	return count(L2TPX_CNT_L2TP_PASS_MALFORMED, L2TPX_BAD_ACTION);
}

static __always_inline int l2tp_steer_frame(struct xdp_md *ctx)
{
	struct frame f = frame_of(ctx);
	struct l2 l2;
	struct ip4 ip;
	struct udp udp;
	struct l2tp l2tp;
	__u16 proto;
	int rc;

	if (parse_eth(&f, &l2))
		return count(L2TPX_CNT_L2TP_PASS_TRUNCATED, L2TPX_BAD_ACTION);
	if (l2.proto != ETH_P_IP)
		return count(L2TPX_CNT_L2TP_PASS_NOT_IPV4, XDP_PASS);

	rc = parse_ipv4(&f, l2.l3_off, &ip);
	if (rc)
		return l2tp_bad(rc);
	if (ipv4_is_fragment(&ip))
		return count(L2TPX_CNT_L2TP_PASS_FRAGMENT, XDP_PASS);
	if (ip.protocol != IPPROTO_UDP)
		return count(L2TPX_CNT_L2TP_PASS_NOT_UDP, XDP_PASS);

	rc = parse_udp(&f, &ip, &udp);
	if (rc)
		return l2tp_bad(rc);
	if (udp.dport != config_l2tp_port())
		return count(L2TPX_CNT_L2TP_PASS_NOT_L2TP_PORT, XDP_PASS);

	rc = parse_l2tp(&f, &udp, &l2tp);
	switch (rc) {
	case PARSE_OK:
		break;
	case PARSE_BAD_VERSION:
		return count(L2TPX_CNT_L2TP_PASS_BAD_VERSION, XDP_PASS);
	case PARSE_CONTROL:
		return count(L2TPX_CNT_L2TP_PASS_CONTROL, XDP_PASS);
	case PARSE_OFFSET_LIMIT:
		return count(L2TPX_CNT_L2TP_PASS_OFFSET_LIMIT, XDP_PASS);
	default:
		return l2tp_bad(rc);
	}

	rc = parse_ppp(&f, &l2tp, &proto);
	if (rc)
		return l2tp_bad(rc);
	if (proto == PPP_IPV4)
		return redirect_xsk(&L2TPX_MAP_XSKS_ACCESS, ctx->rx_queue_index,
				    L2TPX_CNT_L2TP_REDIRECT_V4, L2TPX_CNT_L2TP_PASS_NO_XSK);
	if (proto == PPP_IPV6)
		return redirect_xsk(&L2TPX_MAP_XSKS_ACCESS, ctx->rx_queue_index,
				    L2TPX_CNT_L2TP_REDIRECT_V6, L2TPX_CNT_L2TP_PASS_NO_XSK);
	if (proto >= PPP_CONTROL_PROTOCOLS)
		return count(L2TPX_CNT_L2TP_PASS_PPP_CONTROL, XDP_PASS);
	return count(L2TPX_CNT_L2TP_PASS_PPP_OTHER, XDP_PASS);
}

/* ---- core side ---- */

static __always_inline int core_bad(int rc)
{
	if (rc == PARSE_TRUNCATED)
		return count(L2TPX_CNT_CORE_PASS_TRUNCATED, L2TPX_BAD_ACTION);
	return count(L2TPX_CNT_CORE_PASS_MALFORMED, L2TPX_BAD_ACTION);
}

/*
 * Puts the subscriber's slot in front of the packet (struct l2tpx_meta) for
 * the worker, which then reads the session without the table's address
 * index. A driver without metadata support refuses the adjustment: the
 * frame goes without, and the worker falls back to the index.
 */
static __always_inline void put_meta(struct xdp_md *ctx, __u32 slot, __u32 check)
{
	struct l2tpx_meta *meta;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)))
		return;
	meta = (void *)(long)ctx->data_meta;
	if ((void *)(meta + 1) > (void *)(long)ctx->data)
		return;
	meta->slot = slot;
	meta->check = check;
}

static __always_inline int core_steer_frame(struct xdp_md *ctx)
{
	struct frame f = frame_of(ctx);
	struct l2 l2;
	int rc;

	if (parse_eth(&f, &l2))
		return count(L2TPX_CNT_CORE_PASS_TRUNCATED, L2TPX_BAD_ACTION);

	if (l2.proto == ETH_P_IP) {
		struct ip4 ip;
		__u32 *slot;

		rc = parse_ipv4(&f, l2.l3_off, &ip);
		if (rc)
			return core_bad(rc);
		/* Fragments too: the worker forwards them as they are. */
		slot = bpf_map_lookup_elem(&L2TPX_MAP_SUBS_V4, &ip.daddr);
		if (!slot)
			return count(L2TPX_CNT_CORE_PASS_V4_MISS, XDP_PASS);
		put_meta(ctx, *slot, L2TPX_META_MAGIC_V4 ^ (__u32)ip.daddr);
		return redirect_xsk(&L2TPX_MAP_XSKS_CORE, ctx->rx_queue_index,
				    L2TPX_CNT_CORE_REDIRECT_V4, L2TPX_CNT_CORE_PASS_NO_XSK);
	}

	if (l2.proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6;
		struct l2tpx_v6_key key;
		__u32 *slot, half[2];

		rc = parse_ipv6(&f, l2.l3_off, &ip6);
		if (rc)
			return core_bad(rc);
		__builtin_memcpy(key.prefix, ip6->daddr.in6_u.u6_addr8, sizeof(key.prefix));
		slot = bpf_map_lookup_elem(&L2TPX_MAP_SUBS_V6, &key);
		if (!slot)
			return count(L2TPX_CNT_CORE_PASS_V6_MISS, XDP_PASS);
		__builtin_memcpy(half, key.prefix, sizeof(half));
		put_meta(ctx, *slot, L2TPX_META_MAGIC_V6 ^ half[0] ^ half[1]);
		return redirect_xsk(&L2TPX_MAP_XSKS_CORE, ctx->rx_queue_index,
				    L2TPX_CNT_CORE_REDIRECT_V6, L2TPX_CNT_CORE_PASS_NO_XSK);
	}

	return count(L2TPX_CNT_CORE_PASS_NOT_IP, XDP_PASS);
}

/* ---- entry points ---- */

SEC("xdp")
int L2TPX_PROG_L2TP_STEER(struct xdp_md *ctx)
{
	return l2tp_steer_frame(ctx);
}

SEC("xdp")
int L2TPX_PROG_CORE_STEER(struct xdp_md *ctx)
{
	return core_steer_frame(ctx);
}
