/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * l2tpx_abi.h: THE single source of truth for everything the XDP programs
 * share with user space (dataplane/src/ebpf.rs).
 *
 *   - map names, key and value layouts;
 *   - the configuration struct;
 *   - the verdict counter indices (one per verdict and reason);
 *   - the limits, as overridable constants.
 *
 * This header is compiled twice: by clang -target bpf into the XDP object,
 * and by the host compiler into ebpf/abi_probe.c, whose output
 * (sizes, offsets, enum values, names, limits) dataplane/build.rs turns into
 * Rust constants that ebpf.rs checks its mirror against, at compile time for
 * the structs and in a unit test for the counter names. Change this file and
 * the Rust mirror together: the build fails until they agree.
 *
 * Keep it plain C with fixed-width types, no pointers and no bitfields, so
 * that the host and the BPF target lay it out identically.
 */
#ifndef L2TPX_ABI_H
#define L2TPX_ABI_H

#include <linux/types.h>

/* Bumped on any change user space must know about. */
#define L2TPX_ABI_VERSION 2

/* ---- Limits (override with -D, in both compiles: see ebpf/README.md) ---- */

/* Entries of each XSKMAP: the highest RX queue index served, plus one. */
#ifndef L2TPX_MAX_QUEUES
#define L2TPX_MAX_QUEUES 64
#endif

/* Entries of the IPv4 subscriber map (the loader can override at load). */
#ifndef L2TPX_MAX_SUBS_V4
#define L2TPX_MAX_SUBS_V4 262144
#endif

/* Entries of the IPv6 /64 subscriber map (the loader can override at load). */
#ifndef L2TPX_MAX_SUBS_V6
#define L2TPX_MAX_SUBS_V6 262144
#endif

/*
 * Largest L2TP Offset Size (pad octets) the fast path skips. RFC 2661 allows
 * up to 65535; nobody sends more than a few. Larger ones go to the kernel
 * (counter L2TP_PASS_OFFSET_LIMIT).
 */
#ifndef L2TPX_MAX_OFFSET_PAD
#define L2TPX_MAX_OFFSET_PAD 64
#endif

/* UDP destination port of L2TP when the config says 0. */
#define L2TPX_DEFAULT_L2TP_PORT 1701

/* ---- Map names (ELF symbols; user space looks the maps up by these) ---- */

#define L2TPX_MAP_CONFIG      l2tpx_config   /* ARRAY[1] of struct l2tpx_config */
#define L2TPX_MAP_COUNTERS    l2tpx_counters /* PERCPU_ARRAY[L2TPX_CNT_MAX] of __u64 */
#define L2TPX_MAP_XSKS_ACCESS xsks_access    /* XSKMAP[L2TPX_MAX_QUEUES]: access-side sockets */
#define L2TPX_MAP_XSKS_CORE   xsks_core      /* XSKMAP[L2TPX_MAX_QUEUES]: core-side sockets */
#define L2TPX_MAP_SUBS_V4     subs_v4        /* HASH __be32 -> __u32 slot */
#define L2TPX_MAP_SUBS_V6     subs_v6        /* HASH struct l2tpx_v6_key -> __u32 slot */

/* ---- Program names (ELF function names) ---- */

#define L2TPX_PROG_L2TP_STEER l2tp_steer /* access interface */
#define L2TPX_PROG_CORE_STEER core_steer /* core interface */

/* ---- Config: l2tpx_config[0] ---- */

struct l2tpx_config {
	/* UDP destination port of L2TP, host byte order; 0 means 1701. */
	__u16 l2tp_port;
	/* No flags are defined yet: write 0. */
	__u16 flags;
	/* Written as 0, ignored: room to grow without changing the size. */
	__u32 reserved;
};

/* ---- Subscriber maps ----
 *
 * subs_v4: key = the IPv4 address exactly as it sits in the header
 * (network byte order, a __be32), value = the session slot index.
 * subs_v6: key = the first 64 bits of the destination address (one /64 per
 * subscriber, RFC 6177 / BBF TR-187 practice), value = the slot index.
 * The data plane writes the slot (D18); core_steer hands it to the worker
 * in the frame's metadata (struct l2tpx_meta).
 */
struct l2tpx_v6_key {
	__u8 prefix[8];
};

/* ---- XDP metadata: core_steer -> the worker ----
 *
 * On a subscriber hit, core_steer puts this struct in the frame's XDP
 * metadata (bpf_xdp_adjust_meta), immediately in front of the packet;
 * AF_XDP delivers it in the UMEM chunk right before the data (copy mode
 * copies it, zero copy leaves it in place). `slot` is the subscriber map's
 * value: a hint, possibly a sync interval stale, that the worker verifies
 * against the table (slot up, same subscriber address) before using it.
 *
 * The descriptor does not say whether metadata is present, so `check`
 * ties the struct to the packet: L2TPX_META_MAGIC_V4 ^ the IPv4
 * destination, or L2TPX_META_MAGIC_V6 ^ the two 32-bit halves of the
 * destination /64, each word loaded in host byte order from the header
 * bytes. Bytes left over from an earlier use of the chunk, or a
 * driver without metadata support, fail the check: the worker then looks
 * the address up in the table's index.
 */
struct l2tpx_meta {
	__u32 slot;
	__u32 check;
};

#define L2TPX_META_MAGIC_V4 0x6c327834u /* "l2x4" */
#define L2TPX_META_MAGIC_V6 0x6c327836u /* "l2x6" */

/* ---- Verdict counters: l2tpx_counters[index], per CPU, in packets ----
 *
 * X(NAME, index): one line per verdict and reason. The enum is
 * L2TPX_CNT_<NAME>; abi_probe.c prints the names for the Rust check.
 * Append only; never renumber (dashboards key on the index). The indices
 * must be dense (0..L2TPX_CNT_MAX-1): the Rust layout test checks it.
 */
#define L2TPX_COUNTERS(X)                                                      \
	/* l2tp_steer (access side) */                                         \
	X(L2TP_REDIRECT_V4, 0)       /* PPP IPv4 data -> XSK */                \
	X(L2TP_REDIRECT_V6, 1)       /* PPP IPv6 data -> XSK */                \
	X(L2TP_PASS_NO_XSK, 2)       /* would redirect, no XSK on this queue */ \
	X(L2TP_PASS_NOT_IPV4, 3)     /* EtherType not IPv4: ARP, IPv6, ... */  \
	X(L2TP_PASS_FRAGMENT, 4)     /* outer IPv4 fragment (MF or offset) */  \
	X(L2TP_PASS_NOT_UDP, 5)      /* IPv4 but not UDP */                    \
	X(L2TP_PASS_NOT_L2TP_PORT, 6) /* UDP to another port */                \
	X(L2TP_PASS_BAD_VERSION, 7)  /* L2TP Ver != 2 (L2F, L2TPv3, junk) */   \
	X(L2TP_PASS_CONTROL, 8)      /* L2TP control message (T=1) */          \
	X(L2TP_PASS_OFFSET_LIMIT, 9) /* Offset Size > L2TPX_MAX_OFFSET_PAD */  \
	X(L2TP_PASS_PPP_CONTROL, 10) /* PPP protocol >= 0x8000: LCP, PAP, CHAP, IPCP, IPv6CP, ... */ \
	X(L2TP_PASS_PPP_OTHER, 11)   /* other PPP network protocols (VJ, MP, ...) */ \
	X(L2TP_PASS_TRUNCATED, 12)   /* a header or a length field reaches past the frame */ \
	X(L2TP_PASS_MALFORMED, 13)   /* IPv4 version/IHL, UDP or L2TP Length, PPP ACF/protocol */ \
	/* core_steer (core side) */                                           \
	X(CORE_REDIRECT_V4, 14)      /* IPv4 dst in subs_v4 -> XSK */          \
	X(CORE_REDIRECT_V6, 15)      /* IPv6 dst /64 in subs_v6 -> XSK */      \
	X(CORE_PASS_NO_XSK, 16)      /* would redirect, no XSK on this queue */ \
	X(CORE_PASS_NOT_IP, 17)      /* neither IPv4 nor IPv6: ARP, LLDP, ... */ \
	X(CORE_PASS_V4_MISS, 18)     /* IPv4 dst not a subscriber */           \
	X(CORE_PASS_V6_MISS, 19)     /* IPv6 dst /64 not a subscriber */       \
	X(CORE_PASS_TRUNCATED, 20)   /* a header or a length field reaches past the frame */ \
	X(CORE_PASS_MALFORMED, 21)   /* IP version or IHL wrong */

#define L2TPX_CNT_ENUM_ENTRY(name, value) L2TPX_CNT_##name = value,
enum l2tpx_counter {
	L2TPX_COUNTERS(L2TPX_CNT_ENUM_ENTRY)
	L2TPX_CNT_MAX /* number of counters: the map's max_entries */
};
#undef L2TPX_CNT_ENUM_ENTRY

/* Layout guards, checked by both compilers. */
_Static_assert(sizeof(struct l2tpx_config) == 8, "l2tpx_config size");
_Static_assert(sizeof(struct l2tpx_v6_key) == 8, "l2tpx_v6_key size");
/* bpf_xdp_adjust_meta takes multiples of 4, at most 32 bytes. */
_Static_assert(sizeof(struct l2tpx_meta) == 8, "l2tpx_meta size");

#endif /* L2TPX_ABI_H */
