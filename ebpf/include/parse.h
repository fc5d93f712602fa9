/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * parse.h: bounds-checked header parsing for the XDP programs.
 *
 * Every helper is __always_inline and works on byte offsets from the start
 * of the frame. Each read goes through frame_at(), the one place that
 * compares a packet pointer with data_end, so the verifier sees one simple
 * pattern; the logical limits (IPv4 Total Length, UDP Length, L2TP Length)
 * are plain integer compares on top of that.
 *
 * Each helper returns PARSE_OK or the reason it stopped; the programs turn
 * reasons into counters and verdicts.
 */
#ifndef L2TPX_PARSE_H
#define L2TPX_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "l2tpx_abi.h"

enum parse_rc {
	PARSE_OK = 0,
	PARSE_TRUNCATED,   /* a header or a length field reaches past the data */
	PARSE_MALFORMED,   /* a field holds an impossible value */
	PARSE_BAD_VERSION, /* L2TP Ver != 2 */
	PARSE_CONTROL,     /* L2TP T bit set */
	PARSE_OFFSET_LIMIT /* L2TP Offset Size above L2TPX_MAX_OFFSET_PAD */
};

struct frame {
	void *data;
	void *data_end;
	__u32 len; /* data_end - data */
};

static __always_inline struct frame frame_of(struct xdp_md *ctx)
{
	struct frame f = {
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
	};

	f.len = (__u32)(f.data_end - f.data);
	return f;
}

/*
 * Hides a value from the optimiser (libbpf's barrier_var). Without it clang
 * folds `data + (x - 2)` checked as `p + 2 > data_end` into one pointer
 * `data + x` read at offsets -2 and -1, which the verifier rejects: it only
 * proves bytes at or after the checked pointer.
 */
#define opaque(var) asm volatile("" : "+r"(var))

/* `len` bytes at `off`, or NULL unless they all lie in the frame. */
static __always_inline void *frame_at(const struct frame *f, __u32 off, __u32 len)
{
	void *p;

	opaque(off);
	p = f->data + off;
	opaque(p);
	if (p + len > f->data_end)
		return NULL;
	return p;
}

static __always_inline int read_u8(const struct frame *f, __u32 off, __u8 *out)
{
	__u8 *p = frame_at(f, off, 1);

	if (!p)
		return PARSE_TRUNCATED;
	*out = *p;
	return PARSE_OK;
}

static __always_inline int read_be16(const struct frame *f, __u32 off, __u16 *out)
{
	__u8 *p = frame_at(f, off, 2);

	if (!p)
		return PARSE_TRUNCATED;
	*out = ((__u16)p[0] << 8) | p[1];
	return PARSE_OK;
}

/* ---- Ethernet, with at most one 802.1Q tag ---- */

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif

struct l2 {
	__u32 l3_off; /* 14, or 18 behind one tag */
	__u16 proto;  /* EtherType of the payload, host byte order */
};

static __always_inline int parse_eth(const struct frame *f, struct l2 *out)
{
	struct ethhdr *eth = frame_at(f, 0, sizeof(*eth));
	__u16 proto;

	if (!eth)
		return PARSE_TRUNCATED;
	proto = bpf_ntohs(eth->h_proto);
	out->l3_off = sizeof(*eth);
	if (proto == ETH_P_8021Q) {
		/* TCI (2 bytes) then the inner EtherType. */
		if (read_be16(f, sizeof(*eth) + 2, &proto))
			return PARSE_TRUNCATED;
		out->l3_off = sizeof(*eth) + 4;
	}
	out->proto = proto;
	return PARSE_OK;
}

/* ---- IPv4 (IHL-aware) ---- */

struct ip4 {
	__u32 l4_off;   /* first byte after the header and its options */
	__u32 end;      /* l3_off + Total Length: where the datagram ends */
	__u16 frag;     /* flags and fragment offset, host byte order */
	__u8 protocol;
	__be32 daddr;
};

#define IPV4_MF 0x2000
#define IPV4_OFFSET_MASK 0x1fff

/*
 * Checks Version, IHL (>= 5, options inside the frame) and that the frame
 * holds the whole datagram (Total Length; Ethernet padding after it is
 * fine). A frame cut anywhere inside the datagram is PARSE_TRUNCATED.
 */
static __always_inline int parse_ipv4(const struct frame *f, __u32 l3_off, struct ip4 *out)
{
	struct iphdr *ip = frame_at(f, l3_off, sizeof(*ip));
	__u32 hlen, tot;

	if (!ip)
		return PARSE_TRUNCATED;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_MALFORMED;
	hlen = (__u32)ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen)
		return PARSE_MALFORMED;
	if (l3_off + tot > f->len)
		return PARSE_TRUNCATED;
	out->l4_off = l3_off + hlen;
	out->end = l3_off + tot;
	out->frag = bpf_ntohs(ip->frag_off);
	out->protocol = ip->protocol;
	out->daddr = ip->daddr;
	return PARSE_OK;
}

static __always_inline int ipv4_is_fragment(const struct ip4 *ip)
{
	return (ip->frag & (IPV4_MF | IPV4_OFFSET_MASK)) != 0;
}

/* ---- IPv6 (fixed header only) ---- */

/* Checks Version and that the frame holds the whole Payload Length. */
static __always_inline int parse_ipv6(const struct frame *f, __u32 l3_off, struct ipv6hdr **out)
{
	struct ipv6hdr *ip6 = frame_at(f, l3_off, sizeof(*ip6));

	if (!ip6)
		return PARSE_TRUNCATED;
	if (ip6->version != 6)
		return PARSE_MALFORMED;
	if (l3_off + sizeof(*ip6) + bpf_ntohs(ip6->payload_len) > f->len)
		return PARSE_TRUNCATED;
	*out = ip6;
	return PARSE_OK;
}

/* ---- UDP ---- */

struct udp {
	__u16 sport;    /* host byte order */
	__u16 dport;    /* host byte order */
	__u32 data_off; /* first payload byte */
	__u32 end;      /* where the datagram ends (UDP Length) */
};

/* Checks the header is in the datagram and 8 <= Length <= what IP carries. */
static __always_inline int parse_udp(const struct frame *f, const struct ip4 *ip, struct udp *out)
{
	struct udphdr *udp;
	__u32 len;

	if (ip->l4_off + sizeof(*udp) > ip->end)
		return PARSE_TRUNCATED;
	udp = frame_at(f, ip->l4_off, sizeof(*udp));
	if (!udp)
		return PARSE_TRUNCATED;
	len = bpf_ntohs(udp->len);
	if (len < sizeof(*udp) || ip->l4_off + len > ip->end)
		return PARSE_MALFORMED;
	out->sport = bpf_ntohs(udp->source);
	out->dport = bpf_ntohs(udp->dest);
	out->data_off = ip->l4_off + sizeof(*udp);
	out->end = ip->l4_off + len;
	return PARSE_OK;
}

/* ---- L2TPv2 data message header (RFC 2661 §3.1) ---- */

#define L2TP_F_T 0x8000
#define L2TP_F_L 0x4000
#define L2TP_F_S 0x0800
#define L2TP_F_O 0x0200
#define L2TP_VER_MASK 0x000f
#define L2TP_VERSION 2

struct l2tp {
	__u32 ppp_off; /* first byte of the PPP frame (after any offset pad) */
	__u32 end;     /* end of the message: Length if present, else UDP's */
};

/*
 *  |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
 *  |           Tunnel ID           |           Session ID          |
 *  |             Ns (opt)          |             Nr (opt)          |
 *  |      Offset Size (opt)        |    Offset pad... (opt)
 *
 * Order of the checks: Ver first (so L2F and L2TPv3 are told apart), then
 * T (control messages go to the control plane whole, even short ones), then
 * the optional fields.
 */
static __always_inline int parse_l2tp(const struct frame *f, const struct udp *udp, struct l2tp *out)
{
	__u32 off = udp->data_off;
	__u32 end = udp->end;
	__u16 flags, v;
	__u32 hdr_len;

	if (off + 2 > end || read_be16(f, off, &flags))
		return PARSE_TRUNCATED;
	if ((flags & L2TP_VER_MASK) != L2TP_VERSION)
		return PARSE_BAD_VERSION;
	if (flags & L2TP_F_T)
		return PARSE_CONTROL;

	/* Flags, Tunnel ID, Session ID; then the optional fields. */
	hdr_len = 6;
	if (flags & L2TP_F_L)
		hdr_len += 2;
	if (flags & L2TP_F_S)
		hdr_len += 4; /* Ns, Nr */
	if (flags & L2TP_F_O)
		hdr_len += 2; /* Offset Size; the pad follows */
	if (off + hdr_len > end)
		return PARSE_TRUNCATED;

	if (flags & L2TP_F_O) {
		if (read_be16(f, off + hdr_len - 2, &v))
			return PARSE_TRUNCATED;
		if (v > L2TPX_MAX_OFFSET_PAD)
			return PARSE_OFFSET_LIMIT;
		hdr_len += v;
	}

	if (flags & L2TP_F_L) {
		if (read_be16(f, off + 2, &v))
			return PARSE_TRUNCATED;
		/* Length covers the header, and the datagram holds it all. */
		if (v < hdr_len || off + v > end)
			return PARSE_MALFORMED;
		end = off + v;
	} else if (off + hdr_len > end) {
		return PARSE_TRUNCATED; /* the offset pad runs past the datagram */
	}

	out->ppp_off = off + hdr_len;
	out->end = end;
	return PARSE_OK;
}

/* ---- PPP inside L2TP: [FF 03] protocol(1 or 2) ---- */

#define PPP_ADDRESS 0xff
#define PPP_CONTROL 0x03
#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057
#define PPP_CONTROL_PROTOCOLS 0x8000 /* NCPs and link control: 0x8000-0xffff */

/*
 * Address/Control present or not (ACFC, RFC 1662 §3.1); Protocol one or two
 * octets (PFC, RFC 1661 §6.5: a protocol's first octet is even, its last
 * odd). An 0xff not followed by 0x03, or a two-octet protocol with an even
 * second octet, is PARSE_MALFORMED.
 */
static __always_inline int parse_ppp(const struct frame *f, const struct l2tp *l2tp, __u16 *proto)
{
	__u32 off = l2tp->ppp_off;
	__u8 b0, b1;

	if (off + 1 > l2tp->end || read_u8(f, off, &b0))
		return PARSE_TRUNCATED;
	if (b0 == PPP_ADDRESS) {
		if (off + 2 > l2tp->end || read_u8(f, off + 1, &b1))
			return PARSE_TRUNCATED;
		if (b1 != PPP_CONTROL)
			return PARSE_MALFORMED;
		off += 2;
		if (off + 1 > l2tp->end || read_u8(f, off, &b0))
			return PARSE_TRUNCATED;
	}
	if (b0 & 1) {
		*proto = b0;
		return PARSE_OK;
	}
	if (off + 2 > l2tp->end || read_u8(f, off + 1, &b1))
		return PARSE_TRUNCATED;
	if (!(b1 & 1))
		return PARSE_MALFORMED;
	*proto = ((__u16)b0 << 8) | b1;
	return PARSE_OK;
}

#endif /* L2TPX_PARSE_H */
