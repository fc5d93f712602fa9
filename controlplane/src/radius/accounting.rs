//! RADIUS Accounting (RFC 2866, 64-bit counters per RFC 2869 §5.1/5.2):
//! Start / Interim-Update / Stop records, the session-end cause mapping,
//! Acct-Session-Id generation and the jittered interim scheduler.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use l2tpx_wire::radius::{
    AcctAuthentic, AcctStatusType, AcctTerminateCause, AttrType, Code, NasPortType, PacketBuilder,
    ServiceType, MAX_PACKET_LEN,
};
use l2tpx_wire::Result as WireResult;

use super::access::{push_station_ids, NasIdentity};
use crate::l2tp::RandomSource;

/// Why a session ended, in L2TP/PPP terms; [`SessionEndCause::terminate_cause`]
/// maps it to Acct-Terminate-Cause (RFC 2866 §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionEndCause {
    /// The user's PPP sent LCP Terminate-Request.
    LcpTerminate,
    /// The LAC cleared the call with a CDN (the user's line dropped).
    PeerCallDisconnect,
    /// The LAC closed the whole tunnel (StopCCN).
    PeerTunnelClosed,
    /// LCP echo replies stopped (the user vanished).
    LcpEchoTimeout,
    /// The tunnel's control connection died (Hello / retransmit timeout).
    TunnelTimeout,
    /// Idle-Timeout expired.
    IdleTimeout,
    /// Session-Timeout expired.
    SessionTimeout,
    /// An operator cleared the session.
    AdminReset,
    /// A RADIUS Disconnect-Request (RFC 5176) cleared it.
    DynamicAuthDisconnect,
    /// The LNS is shutting down on an operator's request.
    AdminShutdown,
    /// The LNS restarted unexpectedly (sessions found at start-up).
    NasReboot,
    /// The LNS decided to end it (e.g. a duplicate login replaced it).
    NasRequest,
    /// LCP/IPCP negotiation failed.
    NegotiationFailed,
    /// Authentication failed after the session was accounted.
    AuthenticationFailed,
    /// An internal error of the LNS (e.g. data plane failure).
    NasError,
    /// No resources (addresses, table slots) to continue.
    ResourcesExhausted,
    /// A protocol error on the session (malformed frames, bad state).
    PortError,
}

impl SessionEndCause {
    /// The Acct-Terminate-Cause to report.
    pub fn terminate_cause(self) -> AcctTerminateCause {
        use AcctTerminateCause as T;
        use SessionEndCause as C;
        match self {
            C::LcpTerminate => T::UserRequest,
            C::PeerCallDisconnect | C::LcpEchoTimeout | C::TunnelTimeout => T::LostCarrier,
            C::PeerTunnelClosed => T::LostService,
            C::IdleTimeout => T::IdleTimeout,
            C::SessionTimeout => T::SessionTimeout,
            C::AdminReset | C::DynamicAuthDisconnect => T::AdminReset,
            C::AdminShutdown => T::AdminReboot,
            C::NasReboot => T::NasReboot,
            C::NasRequest => T::NasRequest,
            C::NegotiationFailed => T::ServiceUnavailable,
            C::AuthenticationFailed => T::UserError,
            C::NasError | C::ResourcesExhausted => T::NasError,
            C::PortError => T::PortError,
        }
    }
}

/// Splits a 64-bit octet counter into (Gigawords, Octets): the high and
/// low 32 bits (RFC 2869 §5.1).
pub fn split_octets(octets: u64) -> (u32, u32) {
    ((octets >> 32) as u32, octets as u32)
}

/// Traffic counters of one session. Input is from the user to the NAS,
/// output towards the user (RFC 2866 §5.3, §5.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Octets received from the user.
    pub input_octets: u64,
    /// Octets sent to the user.
    pub output_octets: u64,
    /// Packets received from the user (sent modulo 2^32).
    pub input_packets: u64,
    /// Packets sent to the user (sent modulo 2^32).
    pub output_packets: u64,
}

/// Generates Acct-Session-Ids: `{boot:08X}-{seq:08X}`. Pass a `boot` that
/// differs per LNS start (e.g. a persisted counter or the start time) so
/// IDs stay unique across restarts; a session that survives a restart
/// keeps the ID it already had (store it with the session).
#[derive(Debug, Clone)]
pub struct AcctSessionIdGen {
    boot: u32,
    next: u32,
}

impl AcctSessionIdGen {
    /// A generator for one LNS run.
    pub fn new(boot: u32) -> Self {
        AcctSessionIdGen { boot, next: 1 }
    }

    /// The next ID.
    pub fn next_id(&mut self) -> String {
        let id = format!("{:08X}-{:08X}", self.boot, self.next);
        self.next = self.next.wrapping_add(1);
        id
    }
}

/// The per-session facts every accounting record repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcctSession {
    /// Acct-Session-Id (unique per session).
    pub session_id: String,
    /// User-Name.
    pub user_name: String,
    /// NAS-Port.
    pub nas_port: u32,
    /// Framed-IP-Address given to the user.
    pub framed_ip_address: Option<Ipv4Addr>,
    /// Calling-Station-Id.
    pub calling_station_id: Option<String>,
    /// Called-Station-Id.
    pub called_station_id: Option<String>,
    /// Class attributes from the Access-Accept, echoed (RFC 2865 §5.25).
    pub class: Vec<Vec<u8>>,
}

impl AcctSession {
    fn record(&self, status: AcctStatusType, event_timestamp: Option<u32>) -> AcctRequest {
        AcctRequest {
            status,
            session: self.clone(),
            counters: SessionCounters::default(),
            session_time: 0,
            terminate_cause: None,
            event_timestamp,
            delay: 0,
        }
    }

    /// An Accounting-Request Start.
    pub fn start(&self, event_timestamp: Option<u32>) -> AcctRequest {
        self.record(AcctStatusType::Start, event_timestamp)
    }

    /// An Interim-Update with the counters so far.
    pub fn interim(
        &self,
        counters: SessionCounters,
        session_time: u32,
        event_timestamp: Option<u32>,
    ) -> AcctRequest {
        AcctRequest {
            counters,
            session_time,
            ..self.record(AcctStatusType::InterimUpdate, event_timestamp)
        }
    }

    /// A Stop with the final counters and the cause.
    pub fn stop(
        &self,
        counters: SessionCounters,
        session_time: u32,
        cause: SessionEndCause,
        event_timestamp: Option<u32>,
    ) -> AcctRequest {
        AcctRequest {
            counters,
            session_time,
            terminate_cause: Some(cause.terminate_cause()),
            ..self.record(AcctStatusType::Stop, event_timestamp)
        }
    }
}

/// One Accounting-Request, encoded per server and per (re)transmission by
/// [`super::RadiusClient`] (Acct-Delay-Time grows while it is retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctRequest {
    /// Acct-Status-Type.
    pub status: AcctStatusType,
    /// The session's fixed attributes.
    pub session: AcctSession,
    /// Counters (sent in Interim-Update and Stop).
    pub counters: SessionCounters,
    /// Acct-Session-Time, seconds (Interim-Update and Stop).
    pub session_time: u32,
    /// Acct-Terminate-Cause (Stop).
    pub terminate_cause: Option<AcctTerminateCause>,
    /// Event-Timestamp: UNIX seconds of the event, from the caller's clock.
    pub event_timestamp: Option<u32>,
    /// Seconds the record already waited before it was handed to the
    /// client (added to Acct-Delay-Time).
    pub delay: u32,
}

impl AcctRequest {
    /// Encodes the record with Acct-Delay-Time `delay` and the computed
    /// Request Authenticator (RFC 2866 §3).
    pub fn encode(
        &self,
        nas: &NasIdentity,
        identifier: u8,
        delay: u32,
        secret: &[u8],
    ) -> WireResult<Vec<u8>> {
        let s = &self.session;
        let mut buf = vec![0u8; MAX_PACKET_LEN];
        let mut b = PacketBuilder::new(&mut buf, Code::AccountingRequest, identifier, &[0; 16])?;
        b.push_u32(AttrType::AcctStatusType, self.status.into())?;
        b.push(AttrType::AcctSessionId, s.session_id.as_bytes())?;
        b.push(AttrType::UserName, s.user_name.as_bytes())?;
        nas.push(&mut b)?;
        b.push_u32(AttrType::NasPort, s.nas_port)?;
        b.push_u32(AttrType::NasPortType, NasPortType::Virtual.into())?;
        b.push_u32(AttrType::ServiceType, ServiceType::Framed.into())?;
        b.push_u32(AttrType::AcctAuthentic, AcctAuthentic::Radius.into())?;
        if let Some(ip) = s.framed_ip_address {
            b.push_ipv4(AttrType::FramedIpAddress, ip)?;
        }
        push_station_ids(
            &mut b,
            s.calling_station_id.as_deref(),
            s.called_station_id.as_deref(),
        )?;
        for class in &s.class {
            b.push(AttrType::Class, class)?;
        }
        if self.status != AcctStatusType::Start {
            let c = &self.counters;
            let (in_giga, in_oct) = split_octets(c.input_octets);
            let (out_giga, out_oct) = split_octets(c.output_octets);
            b.push_u32(AttrType::AcctInputOctets, in_oct)?;
            b.push_u32(AttrType::AcctOutputOctets, out_oct)?;
            b.push_u32(AttrType::AcctInputGigawords, in_giga)?;
            b.push_u32(AttrType::AcctOutputGigawords, out_giga)?;
            b.push_u32(AttrType::AcctInputPackets, c.input_packets as u32)?;
            b.push_u32(AttrType::AcctOutputPackets, c.output_packets as u32)?;
            b.push_u32(AttrType::AcctSessionTime, self.session_time)?;
        }
        if let Some(cause) = self.terminate_cause {
            b.push_u32(AttrType::AcctTerminateCause, cause.into())?;
        }
        if let Some(ts) = self.event_timestamp {
            b.push_u32(AttrType::EventTimestamp, ts)?;
        }
        b.push_u32(AttrType::AcctDelayTime, delay)?;
        let mut p = b.finish();
        p.fill_request_authenticator(secret);
        let len = usize::from(p.length());
        buf.truncate(len);
        Ok(buf)
    }
}

#[derive(Debug, Clone, Copy)]
struct Scheduled {
    /// When it fires (nominal plus jitter).
    fire: Instant,
    /// The unjittered time, so jitter never accumulates into drift.
    nominal: Instant,
    interval: Duration,
}

/// Schedules Interim-Updates per session. Every firing is the nominal
/// time (start + k * interval) moved by a uniform jitter of up to
/// +-`jitter_permille`/1000 of the interval, drawn from the caller's RNG,
/// so sessions that started together (after a restart, a LAC reconnect)
/// do not all report in the same second.
#[derive(Debug)]
pub struct AccountingScheduler<K> {
    queue: BTreeSet<(Instant, K)>,
    entries: HashMap<K, Scheduled>,
    min_interval: Duration,
    jitter_permille: u32,
}

impl<K: Copy + Ord + Hash> AccountingScheduler<K> {
    /// A scheduler with the interval floor (RFC 2869 §5.16 suggests 60 s)
    /// and the jitter bound (clamped to 500 permille).
    pub fn new(min_interval: Duration, jitter_permille: u32) -> Self {
        AccountingScheduler {
            queue: BTreeSet::new(),
            entries: HashMap::new(),
            min_interval,
            jitter_permille: jitter_permille.min(500),
        }
    }

    fn jittered(
        &self,
        nominal: Instant,
        interval: Duration,
        rng: &mut dyn RandomSource,
    ) -> Instant {
        let span = interval.as_millis() as u64 * u64::from(self.jitter_permille) / 1000;
        if span == 0 {
            return nominal;
        }
        let draw = rng.next_u64() % (2 * span + 1);
        if draw >= span {
            nominal + Duration::from_millis(draw - span)
        } else {
            nominal - Duration::from_millis(span - draw)
        }
    }

    /// Starts (or restarts) interim updates for `key`, the first one
    /// about `interval` after `now`. A zero interval removes the key.
    pub fn add(&mut self, now: Instant, key: K, interval: Duration, rng: &mut dyn RandomSource) {
        self.remove(key);
        if interval.is_zero() {
            return;
        }
        let interval = interval.max(self.min_interval);
        let nominal = now + interval;
        let fire = self.jittered(nominal, interval, rng);
        self.entries.insert(
            key,
            Scheduled {
                fire,
                nominal,
                interval,
            },
        );
        self.queue.insert((fire, key));
    }

    /// Stops interim updates for `key` (session ended).
    pub fn remove(&mut self, key: K) {
        if let Some(s) = self.entries.remove(&key) {
            self.queue.remove(&(s.fire, key));
        }
    }

    /// Sessions scheduled.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is scheduled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When the next update is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// The next session whose update is due at `now`, rescheduled one
    /// interval on; `None` when nothing is due.
    pub fn poll_due(&mut self, now: Instant, rng: &mut dyn RandomSource) -> Option<K> {
        let &(fire, key) = self.queue.first()?;
        if fire > now {
            return None;
        }
        self.queue.pop_first();
        let s = self.entries.get(&key).copied()?;
        // Skip missed periods rather than firing a burst of catch-ups.
        let mut nominal = s.nominal + s.interval;
        while nominal <= now {
            nominal += s.interval;
        }
        let fire = self.jittered(nominal, s.interval, rng).max(now);
        self.entries.insert(
            key,
            Scheduled {
                fire,
                nominal,
                interval: s.interval,
            },
        );
        self.queue.insert((fire, key));
        Some(key)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::l2tp::SplitMix64;
    use l2tpx_wire::radius::{Packet, PacketRepr};

    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn session() -> AcctSession {
        AcctSession {
            session_id: "00000001-00000002".into(),
            user_name: "alice".into(),
            nas_port: 9,
            framed_ip_address: Some(Ipv4Addr::new(198, 18, 1, 50)),
            calling_station_id: Some("123".into()),
            called_station_id: None,
            class: vec![b"c1".to_vec(), b"c2".to_vec()],
        }
    }

    fn u32_of(bytes: &[u8], t: AttrType) -> Option<u32> {
        let p = Packet::new_checked(bytes).unwrap();
        p.find(t).map(|a| a.as_u32().unwrap())
    }

    #[test]
    fn split_counters() {
        assert_eq!(split_octets(5_000_000_000), (1, 705_032_704));
        assert_eq!(split_octets(u64::MAX), (u32::MAX, u32::MAX));
        assert_eq!(split_octets(42), (0, 42));
    }

    #[test]
    fn stop_record_layout() {
        let counters = SessionCounters {
            input_octets: 5_000_000_000,
            output_octets: 12,
            input_packets: (1 << 32) + 5,
            output_packets: 7,
        };
        let req = session().stop(
            counters,
            3600,
            SessionEndCause::IdleTimeout,
            Some(1_700_000_000),
        );
        let secret = b"s3cret";
        let bytes = req.encode(&NasIdentity::default(), 3, 4, secret).unwrap();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.code(), Code::AccountingRequest);
        p.verify_request_authenticator(secret).unwrap();
        assert_eq!(u32_of(&bytes, AttrType::AcctStatusType), Some(2));
        assert_eq!(u32_of(&bytes, AttrType::AcctInputGigawords), Some(1));
        assert_eq!(u32_of(&bytes, AttrType::AcctInputOctets), Some(705_032_704));
        assert_eq!(u32_of(&bytes, AttrType::AcctOutputGigawords), Some(0));
        assert_eq!(u32_of(&bytes, AttrType::AcctOutputOctets), Some(12));
        assert_eq!(u32_of(&bytes, AttrType::AcctInputPackets), Some(5));
        assert_eq!(u32_of(&bytes, AttrType::AcctSessionTime), Some(3600));
        assert_eq!(u32_of(&bytes, AttrType::AcctTerminateCause), Some(4));
        assert_eq!(
            u32_of(&bytes, AttrType::EventTimestamp),
            Some(1_700_000_000)
        );
        assert_eq!(u32_of(&bytes, AttrType::AcctDelayTime), Some(4));
        let classes: Vec<_> = PacketRepr::parse(&p)
            .unwrap()
            .attrs()
            .map(Result::unwrap)
            .filter(|a| a.attr_type == AttrType::Class)
            .map(|a| a.value.to_vec())
            .collect();
        assert_eq!(classes, session().class);
        // A different delay changes the packet and so the authenticator.
        let again = req.encode(&NasIdentity::default(), 3, 5, secret).unwrap();
        assert_ne!(bytes[4..20], again[4..20]);
    }

    #[test]
    fn start_has_no_counters() {
        let bytes = session()
            .start(None)
            .encode(&NasIdentity::default(), 0, 0, b"x")
            .unwrap();
        assert_eq!(u32_of(&bytes, AttrType::AcctStatusType), Some(1));
        assert_eq!(u32_of(&bytes, AttrType::AcctInputOctets), None);
        assert_eq!(u32_of(&bytes, AttrType::AcctTerminateCause), None);
        assert_eq!(u32_of(&bytes, AttrType::EventTimestamp), None);
    }

    #[test]
    fn cause_mapping() {
        use AcctTerminateCause as T;
        assert_eq!(
            SessionEndCause::LcpTerminate.terminate_cause(),
            T::UserRequest
        );
        assert_eq!(
            SessionEndCause::LcpEchoTimeout.terminate_cause(),
            T::LostCarrier
        );
        assert_eq!(
            SessionEndCause::IdleTimeout.terminate_cause(),
            T::IdleTimeout
        );
        assert_eq!(
            SessionEndCause::SessionTimeout.terminate_cause(),
            T::SessionTimeout
        );
        assert_eq!(
            SessionEndCause::DynamicAuthDisconnect.terminate_cause(),
            T::AdminReset
        );
        assert_eq!(SessionEndCause::NasRequest.terminate_cause(), T::NasRequest);
        assert_eq!(SessionEndCause::PortError.terminate_cause(), T::PortError);
    }

    #[test]
    fn session_ids_are_unique() {
        let mut g = AcctSessionIdGen::new(0xabc);
        assert_eq!(g.next_id(), "00000ABC-00000001");
        assert_eq!(g.next_id(), "00000ABC-00000002");
        let mut h = AcctSessionIdGen::new(0xabd);
        assert_ne!(h.next_id(), AcctSessionIdGen::new(0xabc).next_id());
    }

    #[test]
    fn scheduler_spreads_a_burst() {
        let now = t0();
        let mut rng = SplitMix64(7);
        let interval = Duration::from_secs(300);
        let mut s = AccountingScheduler::new(Duration::from_secs(60), 100);
        for k in 0..1000u32 {
            s.add(now, k, interval, &mut rng);
        }
        assert_eq!(s.len(), 1000);
        // All first firings fall within +-30 s of now + 300 s and spread
        // roughly uniformly over 6 buckets of 10 s.
        let mut buckets = [0u32; 6];
        let mut t = now;
        let mut fired = 0;
        while let Some(next) = s.poll_timeout() {
            if next > now + interval + Duration::from_secs(30) {
                break;
            }
            t = t.max(next);
            let k = s.poll_due(t, &mut rng).unwrap();
            let _ = k;
            let off = (t - (now + Duration::from_secs(270))).as_secs();
            buckets[(off / 10).min(5) as usize] += 1;
            fired += 1;
        }
        assert!(t >= now + Duration::from_secs(270));
        assert_eq!(fired, 1000);
        for b in buckets {
            assert!((120..=220).contains(&b), "{buckets:?}");
        }
        // Every session is rescheduled about one interval later.
        let next = s.poll_timeout().unwrap();
        assert!(next >= now + Duration::from_secs(570));
        s.remove(5);
        assert_eq!(s.len(), 999);
    }

    #[test]
    fn scheduler_floor_and_no_catch_up_burst() {
        let now = t0();
        let mut rng = SplitMix64(1);
        let mut s = AccountingScheduler::new(Duration::from_secs(60), 0);
        s.add(now, 1u8, Duration::from_secs(10), &mut rng);
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(60)));
        assert_eq!(s.poll_due(now + Duration::from_secs(59), &mut rng), None);
        // Fired very late: one update, the next one on the nominal grid.
        let late = now + Duration::from_secs(250);
        assert_eq!(s.poll_due(late, &mut rng), Some(1));
        assert_eq!(s.poll_due(late, &mut rng), None);
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(300)));
        s.add(now, 1u8, Duration::ZERO, &mut rng);
        assert!(s.is_empty());
        assert_eq!(s.poll_timeout(), None);
    }
}
