//! Access-Request contents (RFC 2865, tunnel attributes from RFC 2868) and
//! the [`Authorization`] an Access-Accept grants.

use std::net::{IpAddr, Ipv4Addr};

use l2tpx_wire::radius::{
    AttrRepr, AttrType, Code, FramedProtocol, Ipv6Prefix, NasPortType, PacketBuilder, ServiceType,
    TunnelMediumType, TunnelType, AUTHENTICATOR_LEN, MAX_PACKET_LEN,
};
use l2tpx_wire::Result as WireResult;

/// The tag put on the RFC 2868 tunnel attributes of one tunnel.
pub const TUNNEL_TAG: u8 = 1;

/// How the NAS names itself (RFC 2865 §5.4, §5.32): at least one is sent;
/// with neither, NAS-Identifier "l2tpx".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NasIdentity {
    /// NAS-IP-Address.
    pub ip: Option<Ipv4Addr>,
    /// NAS-Identifier.
    pub identifier: Option<String>,
}

impl NasIdentity {
    /// Writes NAS-IP-Address and/or NAS-Identifier.
    pub(crate) fn push(&self, b: &mut PacketBuilder<'_>) -> WireResult<()> {
        if let Some(ip) = self.ip {
            b.push_ipv4(AttrType::NasIpAddress, ip)?;
        }
        match (&self.identifier, self.ip) {
            (Some(id), _) => b.push(AttrType::NasIdentifier, id.as_bytes()),
            (None, None) => b.push(AttrType::NasIdentifier, b"l2tpx"),
            (None, Some(_)) => Ok(()),
        }
    }
}

/// The PPP authentication the user performed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// PAP: the cleartext password, hidden on the wire (RFC 2865 §5.2).
    Pap {
        /// The password from the PAP Authenticate-Request (at most 128 octets).
        password: Vec<u8>,
    },
    /// CHAP-MD5: the peer's response to our challenge (RFC 2865 §5.3, §5.40).
    Chap {
        /// CHAP Identifier of the exchange.
        ident: u8,
        /// The 16-octet MD5 response.
        response: [u8; 16],
        /// The challenge we sent (CHAP-Challenge).
        challenge: Vec<u8>,
    },
}

/// The L2TP tunnel a session arrived on, reported with the RFC 2868
/// attributes (Tunnel-Type L2TP, Tunnel-Medium-Type IPv4/IPv6, tagged
/// [`TUNNEL_TAG`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelInfo {
    /// The LAC's address (Tunnel-Client-Endpoint).
    pub client_endpoint: IpAddr,
    /// Our address (Tunnel-Server-Endpoint).
    pub server_endpoint: IpAddr,
    /// Tunnel-Assignment-Id (e.g. our tunnel ID as text).
    pub assignment_id: Option<String>,
    /// The LAC's Host Name AVP (Tunnel-Client-Auth-Id).
    pub client_auth_id: Option<String>,
    /// Our Host Name (Tunnel-Server-Auth-Id).
    pub server_auth_id: Option<String>,
}

impl TunnelInfo {
    fn push(&self, b: &mut PacketBuilder<'_>) -> WireResult<()> {
        let medium = match self.client_endpoint {
            IpAddr::V4(_) => TunnelMediumType::Ipv4,
            IpAddr::V6(_) => TunnelMediumType::Ipv6,
        };
        b.push_tagged_u32(AttrType::TunnelType, TUNNEL_TAG, TunnelType::L2tp.into())?;
        b.push_tagged_u32(AttrType::TunnelMediumType, TUNNEL_TAG, medium.into())?;
        let client = self.client_endpoint.to_string();
        b.push_tagged(
            AttrType::TunnelClientEndpoint,
            TUNNEL_TAG,
            client.as_bytes(),
        )?;
        let server = self.server_endpoint.to_string();
        b.push_tagged(
            AttrType::TunnelServerEndpoint,
            TUNNEL_TAG,
            server.as_bytes(),
        )?;
        if let Some(id) = &self.assignment_id {
            b.push_tagged(AttrType::TunnelAssignmentId, TUNNEL_TAG, id.as_bytes())?;
        }
        if let Some(id) = &self.client_auth_id {
            b.push_tagged(AttrType::TunnelClientAuthId, TUNNEL_TAG, id.as_bytes())?;
        }
        if let Some(id) = &self.server_auth_id {
            b.push_tagged(AttrType::TunnelServerAuthId, TUNNEL_TAG, id.as_bytes())?;
        }
        Ok(())
    }
}

/// One PPP user to authenticate. Encoded per server (the secret hides the
/// password and keys the authenticators) by [`super::RadiusClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// User-Name (the PAP Peer-ID or CHAP Name).
    pub user_name: String,
    /// PAP or CHAP.
    pub credentials: Credentials,
    /// NAS-Port: our session ID or table slot.
    pub nas_port: u32,
    /// Calling-Station-Id, from the L2TP Calling Number AVP.
    pub calling_station_id: Option<String>,
    /// Called-Station-Id, from the L2TP Called Number AVP.
    pub called_station_id: Option<String>,
    /// The tunnel the session came in on.
    pub tunnel: Option<TunnelInfo>,
}

impl AccessRequest {
    /// A PAP request with no station IDs or tunnel.
    pub fn pap(user_name: &str, password: &[u8], nas_port: u32) -> Self {
        AccessRequest {
            user_name: user_name.to_owned(),
            credentials: Credentials::Pap {
                password: password.to_vec(),
            },
            nas_port,
            calling_station_id: None,
            called_station_id: None,
            tunnel: None,
        }
    }

    /// A CHAP request with no station IDs or tunnel.
    pub fn chap(
        user_name: &str,
        ident: u8,
        response: [u8; 16],
        challenge: &[u8],
        nas_port: u32,
    ) -> Self {
        AccessRequest {
            credentials: Credentials::Chap {
                ident,
                response,
                challenge: challenge.to_vec(),
            },
            ..Self::pap(user_name, b"", nas_port)
        }
    }

    /// Encodes the Access-Request: Message-Authenticator first (BlastRADIUS
    /// guidance), filled last over the finished packet.
    pub fn encode(
        &self,
        nas: &NasIdentity,
        identifier: u8,
        authenticator: &[u8; AUTHENTICATOR_LEN],
        secret: &[u8],
    ) -> WireResult<Vec<u8>> {
        let mut buf = vec![0u8; MAX_PACKET_LEN];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, identifier, authenticator)?;
        b.push_message_authenticator()?;
        b.push(AttrType::UserName, self.user_name.as_bytes())?;
        match &self.credentials {
            Credentials::Pap { password } => {
                b.push_user_password(password, secret, authenticator)?
            }
            Credentials::Chap {
                ident,
                response,
                challenge,
            } => {
                b.push_chap_password(*ident, response)?;
                b.push(AttrType::ChapChallenge, challenge)?;
            }
        }
        nas.push(&mut b)?;
        b.push_u32(AttrType::NasPort, self.nas_port)?;
        b.push_u32(AttrType::NasPortType, NasPortType::Virtual.into())?;
        b.push_u32(AttrType::ServiceType, ServiceType::Framed.into())?;
        b.push_u32(AttrType::FramedProtocol, FramedProtocol::Ppp.into())?;
        push_station_ids(
            &mut b,
            self.calling_station_id.as_deref(),
            self.called_station_id.as_deref(),
        )?;
        if let Some(t) = &self.tunnel {
            t.push(&mut b)?;
        }
        let mut p = b.finish();
        p.fill_message_authenticator(secret, None)?;
        let len = usize::from(p.length());
        buf.truncate(len);
        Ok(buf)
    }
}

pub(crate) fn push_station_ids(
    b: &mut PacketBuilder<'_>,
    calling: Option<&str>,
    called: Option<&str>,
) -> WireResult<()> {
    if let Some(s) = calling {
        b.push(AttrType::CallingStationId, s.as_bytes())?;
    }
    if let Some(s) = called {
        b.push(AttrType::CalledStationId, s.as_bytes())?;
    }
    Ok(())
}

/// What an Access-Accept grants the session. Attributes not listed here
/// are ignored; a malformed value of a listed one is ignored too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    /// Framed-IP-Address as sent: 255.255.255.254 means "NAS picks" and
    /// 255.255.255.255 "user picks" (RFC 2865 §5.8).
    pub framed_ip_address: Option<Ipv4Addr>,
    /// Framed-IP-Netmask.
    pub framed_ip_netmask: Option<Ipv4Addr>,
    /// Framed-Pool: the local pool to allocate from.
    pub framed_pool: Option<String>,
    /// Framed-IPv6-Prefix (RFC 3162), possibly several.
    pub framed_ipv6_prefix: Vec<Ipv6Prefix>,
    /// Framed-IPv6-Pool.
    pub framed_ipv6_pool: Option<String>,
    /// Delegated-IPv6-Prefix (RFC 4818).
    pub delegated_ipv6_prefix: Option<Ipv6Prefix>,
    /// Session-Timeout, seconds.
    pub session_timeout: Option<u32>,
    /// Idle-Timeout, seconds.
    pub idle_timeout: Option<u32>,
    /// Acct-Interim-Interval, seconds.
    pub acct_interim_interval: Option<u32>,
    /// Class, every copy in order: echo them in accounting.
    pub class: Vec<Vec<u8>>,
    /// Reply-Message, every copy concatenated (RFC 2865 §5.18).
    pub reply_message: Option<String>,
    /// Framed-MTU.
    pub framed_mtu: Option<u32>,
}

impl Authorization {
    /// Collects the attributes of an Access-Accept (stops at a malformed
    /// attribute; the packet is validated before this in the client).
    pub fn from_attrs<'a>(attrs: impl IntoIterator<Item = WireResult<AttrRepr<'a>>>) -> Self {
        let mut a = Authorization::default();
        for attr in attrs.into_iter().map_while(Result::ok) {
            match attr.attr_type {
                AttrType::FramedIpAddress => a.framed_ip_address = attr.as_ipv4().ok(),
                AttrType::FramedIpNetmask => a.framed_ip_netmask = attr.as_ipv4().ok(),
                AttrType::FramedPool => a.framed_pool = text(&attr),
                AttrType::FramedIpv6Prefix => {
                    a.framed_ipv6_prefix.extend(attr.as_ipv6_prefix().ok())
                }
                AttrType::FramedIpv6Pool => a.framed_ipv6_pool = text(&attr),
                AttrType::DelegatedIpv6Prefix => {
                    a.delegated_ipv6_prefix = attr.as_ipv6_prefix().ok()
                }
                AttrType::SessionTimeout => a.session_timeout = attr.as_u32().ok(),
                AttrType::IdleTimeout => a.idle_timeout = attr.as_u32().ok(),
                AttrType::AcctInterimInterval => a.acct_interim_interval = attr.as_u32().ok(),
                AttrType::Class => a.class.push(attr.value.to_vec()),
                AttrType::ReplyMessage => {
                    let s = String::from_utf8_lossy(attr.value);
                    a.reply_message.get_or_insert_with(String::new).push_str(&s);
                }
                AttrType::FramedMtu => a.framed_mtu = attr.as_u32().ok(),
                _ => {}
            }
        }
        a
    }
}

fn text(attr: &AttrRepr<'_>) -> Option<String> {
    Some(String::from_utf8_lossy(attr.value).into_owned())
}

/// The Reply-Message of a reply, every copy concatenated.
pub(crate) fn reply_message<'a>(
    attrs: impl IntoIterator<Item = WireResult<AttrRepr<'a>>>,
) -> Option<String> {
    Authorization::from_attrs(attrs).reply_message
}

#[cfg(test)]
mod test {
    use super::*;
    use l2tpx_wire::radius::{unhide_user_password, ChapPassword, Packet, PacketRepr};
    use std::net::Ipv6Addr;

    const SECRET: &[u8] = b"s3cret";

    fn attrs_of(bytes: &[u8]) -> Vec<(AttrType, Vec<u8>)> {
        let p = Packet::new_checked(bytes).unwrap();
        let r = PacketRepr::parse(&p).unwrap();
        r.attrs()
            .map(|a| {
                let a = a.unwrap();
                (a.attr_type, a.value.to_vec())
            })
            .collect()
    }

    fn find(attrs: &[(AttrType, Vec<u8>)], t: AttrType) -> Option<&[u8]> {
        attrs.iter().find(|(at, _)| *at == t).map(|(_, v)| &v[..])
    }

    #[test]
    fn pap_request_layout() {
        let mut req = AccessRequest::pap("alice", b"alicepw", 77);
        req.calling_station_id = Some("0123".into());
        req.called_station_id = Some("4567".into());
        req.tunnel = Some(TunnelInfo {
            client_endpoint: IpAddr::V4(Ipv4Addr::new(198, 18, 251, 1)),
            server_endpoint: IpAddr::V4(Ipv4Addr::new(198, 18, 251, 2)),
            assignment_id: Some("42".into()),
            client_auth_id: Some("lac1".into()),
            server_auth_id: None,
        });
        let nas = NasIdentity {
            ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
            identifier: None,
        };
        let ra = [9u8; 16];
        let bytes = req.encode(&nas, 5, &ra, SECRET).unwrap();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert_eq!(p.identifier(), 5);
        assert_eq!(p.authenticator(), ra);
        p.verify_message_authenticator(SECRET, None).unwrap();
        let attrs = attrs_of(&bytes);
        assert_eq!(attrs[0].0, AttrType::MessageAuthenticator);
        assert_eq!(find(&attrs, AttrType::UserName), Some(&b"alice"[..]));
        let hidden = find(&attrs, AttrType::UserPassword).unwrap();
        let mut out = [0u8; 128];
        let pw = unhide_user_password(hidden, SECRET, &ra, &mut out).unwrap();
        assert_eq!(pw, b"alicepw");
        assert_eq!(
            find(&attrs, AttrType::NasIpAddress),
            Some(&[10, 0, 0, 1][..])
        );
        assert_eq!(find(&attrs, AttrType::NasIdentifier), None);
        assert_eq!(
            find(&attrs, AttrType::NasPort),
            Some(&77u32.to_be_bytes()[..])
        );
        assert_eq!(
            find(&attrs, AttrType::NasPortType),
            Some(&5u32.to_be_bytes()[..])
        );
        assert_eq!(
            find(&attrs, AttrType::ServiceType),
            Some(&2u32.to_be_bytes()[..])
        );
        assert_eq!(
            find(&attrs, AttrType::FramedProtocol),
            Some(&1u32.to_be_bytes()[..])
        );
        assert_eq!(find(&attrs, AttrType::CallingStationId), Some(&b"0123"[..]));
        assert_eq!(find(&attrs, AttrType::CalledStationId), Some(&b"4567"[..]));
        assert_eq!(find(&attrs, AttrType::TunnelType), Some(&[1, 0, 0, 3][..]));
        assert_eq!(
            find(&attrs, AttrType::TunnelMediumType),
            Some(&[1, 0, 0, 1][..])
        );
        assert_eq!(
            find(&attrs, AttrType::TunnelClientEndpoint),
            Some(&b"\x01198.18.251.1"[..])
        );
        assert_eq!(
            find(&attrs, AttrType::TunnelServerEndpoint),
            Some(&b"\x01198.18.251.2"[..])
        );
        assert_eq!(
            find(&attrs, AttrType::TunnelAssignmentId),
            Some(&b"\x0142"[..])
        );
        assert_eq!(
            find(&attrs, AttrType::TunnelClientAuthId),
            Some(&b"\x01lac1"[..])
        );
        assert_eq!(find(&attrs, AttrType::TunnelServerAuthId), None);
    }

    #[test]
    fn chap_request_layout_and_default_nas_identifier() {
        let challenge = [7u8; 16];
        let chap = ChapPassword::compute(3, b"bobpw", &challenge);
        let req = AccessRequest::chap("bob", 3, chap.response, &challenge, 1);
        let bytes = req
            .encode(&NasIdentity::default(), 0, &[1; 16], SECRET)
            .unwrap();
        let attrs = attrs_of(&bytes);
        let cp = ChapPassword::parse(find(&attrs, AttrType::ChapPassword).unwrap()).unwrap();
        assert_eq!(cp, chap);
        assert_eq!(find(&attrs, AttrType::ChapChallenge), Some(&challenge[..]));
        assert_eq!(find(&attrs, AttrType::UserPassword), None);
        assert_eq!(find(&attrs, AttrType::NasIdentifier), Some(&b"l2tpx"[..]));
    }

    #[test]
    fn oversized_password_is_an_error() {
        let req = AccessRequest::pap("x", &[b'a'; 129], 1);
        assert!(req
            .encode(&NasIdentity::default(), 0, &[0; 16], SECRET)
            .is_err());
    }

    #[test]
    fn authorization_from_accept() {
        let mut buf = [0u8; 512];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]).unwrap();
        b.push_ipv4(AttrType::FramedIpAddress, Ipv4Addr::new(198, 18, 1, 50))
            .unwrap();
        b.push(AttrType::FramedPool, b"pool-a").unwrap();
        let prefix = Ipv6Prefix {
            prefix_len: 64,
            prefix: Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 0),
        };
        b.push_ipv6_prefix(AttrType::FramedIpv6Prefix, &prefix)
            .unwrap();
        let pd = Ipv6Prefix {
            prefix_len: 56,
            prefix: Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0),
        };
        b.push_ipv6_prefix(AttrType::DelegatedIpv6Prefix, &pd)
            .unwrap();
        b.push_u32(AttrType::SessionTimeout, 3600).unwrap();
        b.push_u32(AttrType::IdleTimeout, 600).unwrap();
        b.push_u32(AttrType::AcctInterimInterval, 300).unwrap();
        b.push(AttrType::Class, b"c1").unwrap();
        b.push(AttrType::Class, b"c2").unwrap();
        b.push(AttrType::ReplyMessage, b"Hello, ").unwrap();
        b.push(AttrType::ReplyMessage, b"world").unwrap();
        b.push_u32(AttrType::FramedMtu, 1492).unwrap();
        b.push_vsa(9, 1, b"cisco-avpair=x").unwrap();
        b.push_u32(AttrType::from(250), 1).unwrap();
        let p = b.finish();
        let a = Authorization::from_attrs(p.attrs());
        assert_eq!(a.framed_ip_address, Some(Ipv4Addr::new(198, 18, 1, 50)));
        assert_eq!(a.framed_pool.as_deref(), Some("pool-a"));
        assert_eq!(a.framed_ipv6_prefix, vec![prefix]);
        assert_eq!(a.delegated_ipv6_prefix, Some(pd));
        assert_eq!(a.session_timeout, Some(3600));
        assert_eq!(a.idle_timeout, Some(600));
        assert_eq!(a.acct_interim_interval, Some(300));
        assert_eq!(a.class, vec![b"c1".to_vec(), b"c2".to_vec()]);
        assert_eq!(a.reply_message.as_deref(), Some("Hello, world"));
        assert_eq!(a.framed_mtu, Some(1492));
        assert_eq!(
            Authorization::from_attrs(std::iter::empty()),
            Authorization::default()
        );
    }
}
