//! Named values of the RADIUS integer attributes this project reads or
//! writes. Every enum converts losslessly to and from the wire `u32`
//! (`AttrRepr::as_u32`, `PacketBuilder::push_u32`); the tunnel ones carry
//! only the 24-bit value after the tag (`AttrRepr::as_tagged_u32`).

enum_with_unknown! {
    /// Service-Type (RFC 2865 §5.6, RFC 5176 §3.2).
    pub enum ServiceType(u32) {
        Login = 1,
        Framed = 2,
        CallbackLogin = 3,
        CallbackFramed = 4,
        Outbound = 5,
        Administrative = 6,
        NasPrompt = 7,
        AuthenticateOnly = 8,
        CallbackNasPrompt = 9,
        CallCheck = 10,
        CallbackAdministrative = 11,
        /// RFC 5176 §3.2: a CoA-Request that only asks for re-authorization.
        AuthorizeOnly = 17,
    }
}

enum_with_unknown! {
    /// Framed-Protocol (RFC 2865 §5.7).
    pub enum FramedProtocol(u32) {
        Ppp = 1,
        Slip = 2,
        /// AppleTalk Remote Access Protocol.
        Arap = 3,
        /// Gandalf proprietary SingleLink/MultiLink protocol.
        Gandalf = 4,
        /// Xylogics proprietary IPX/SLIP.
        Xylogics = 5,
        /// X.75 Synchronous.
        X75Synchronous = 6,
    }
}

enum_with_unknown! {
    /// NAS-Port-Type (RFC 2865 §5.41). An LNS reports `Virtual`.
    pub enum NasPortType(u32) {
        Async = 0,
        Sync = 1,
        IsdnSync = 2,
        IsdnAsyncV120 = 3,
        IsdnAsyncV110 = 4,
        Virtual = 5,
        Piafs = 6,
        HdlcClearChannel = 7,
        X25 = 8,
        X75 = 9,
        G3Fax = 10,
        Sdsl = 11,
        AdslCap = 12,
        AdslDmt = 13,
        Idsl = 14,
        Ethernet = 15,
        Xdsl = 16,
        Cable = 17,
        WirelessOther = 18,
        Wireless80211 = 19,
    }
}

enum_with_unknown! {
    /// Acct-Status-Type (RFC 2866 §5.1; 9–14 from RFC 2867).
    pub enum AcctStatusType(u32) {
        Start = 1,
        Stop = 2,
        InterimUpdate = 3,
        AccountingOn = 7,
        AccountingOff = 8,
        TunnelStart = 9,
        TunnelStop = 10,
        TunnelReject = 11,
        TunnelLinkStart = 12,
        TunnelLinkStop = 13,
        TunnelLinkReject = 14,
        Failed = 15,
    }
}

enum_with_unknown! {
    /// Acct-Authentic (RFC 2866 §5.6).
    pub enum AcctAuthentic(u32) {
        Radius = 1,
        Local = 2,
        Remote = 3,
    }
}

enum_with_unknown! {
    /// Acct-Terminate-Cause (RFC 2866 §5.10; 19–22 from RFC 3580 §3.19).
    pub enum AcctTerminateCause(u32) {
        UserRequest = 1,
        LostCarrier = 2,
        LostService = 3,
        IdleTimeout = 4,
        SessionTimeout = 5,
        AdminReset = 6,
        AdminReboot = 7,
        PortError = 8,
        NasError = 9,
        NasRequest = 10,
        NasReboot = 11,
        PortUnneeded = 12,
        PortPreempted = 13,
        PortSuspended = 14,
        ServiceUnavailable = 15,
        Callback = 16,
        UserError = 17,
        HostRequest = 18,
        SupplicantRestart = 19,
        ReauthenticationFailure = 20,
        PortReinitialized = 21,
        PortAdministrativelyDisabled = 22,
    }
}

enum_with_unknown! {
    /// Error-Cause (RFC 5176 §3.5). 2xx only in ACKs, 4xx/5xx only in NAKs.
    pub enum ErrorCause(u32) {
        ResidualSessionContextRemoved = 201,
        InvalidEapPacket = 202,
        UnsupportedAttribute = 401,
        MissingAttribute = 402,
        NasIdentificationMismatch = 403,
        InvalidRequest = 404,
        UnsupportedService = 405,
        UnsupportedExtension = 406,
        InvalidAttributeValue = 407,
        AdministrativelyProhibited = 501,
        RequestNotRoutable = 502,
        SessionContextNotFound = 503,
        SessionContextNotRemovable = 504,
        OtherProxyProcessingError = 505,
        ResourcesUnavailable = 506,
        RequestInitiated = 507,
        MultipleSessionSelectionUnsupported = 508,
    }
}

enum_with_unknown! {
    /// Tunnel-Type (RFC 2868 §3.1), the 24-bit value after the tag.
    pub enum TunnelType(u32) {
        Pptp = 1,
        L2f = 2,
        L2tp = 3,
        Atmp = 4,
        Vtp = 5,
        Ah = 6,
        IpIp = 7,
        MinIpIp = 8,
        Esp = 9,
        Gre = 10,
        Dvs = 11,
        IpInIp = 12,
        /// RFC 3580 §3.31.
        Vlan = 13,
    }
}

enum_with_unknown! {
    /// Tunnel-Medium-Type (RFC 2868 §3.2), the 24-bit value after the tag.
    pub enum TunnelMediumType(u32) {
        Ipv4 = 1,
        Ipv6 = 2,
        Nsap = 3,
        Hdlc = 4,
        Bbn1822 = 5,
        Ieee802 = 6,
        E163 = 7,
        E164 = 8,
        F69 = 9,
        X121 = 10,
        Ipx = 11,
        Appletalk = 12,
        DecnetIv = 13,
        BanyanVines = 14,
        E164Nsap = 15,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn values_match_rfcs() {
        assert_eq!(u32::from(NasPortType::Virtual), 5);
        assert_eq!(u32::from(AcctStatusType::Start), 1);
        assert_eq!(u32::from(AcctStatusType::Stop), 2);
        assert_eq!(u32::from(AcctStatusType::InterimUpdate), 3);
        assert_eq!(u32::from(AcctStatusType::AccountingOn), 7);
        assert_eq!(u32::from(AcctStatusType::AccountingOff), 8);
        assert_eq!(u32::from(TunnelType::L2tp), 3);
        assert_eq!(u32::from(TunnelMediumType::Ipv4), 1);
        assert_eq!(u32::from(TunnelMediumType::Ipv6), 2);
        assert_eq!(u32::from(ServiceType::Framed), 2);
        assert_eq!(u32::from(FramedProtocol::Ppp), 1);
        assert_eq!(u32::from(AcctTerminateCause::HostRequest), 18);
        assert_eq!(
            u32::from(AcctTerminateCause::PortAdministrativelyDisabled),
            22
        );
        assert_eq!(ErrorCause::from(503), ErrorCause::SessionContextNotFound);
        assert_eq!(ErrorCause::from(999), ErrorCause::Unknown(999));
        for v in 0..=600u32 {
            assert_eq!(u32::from(ErrorCause::from(v)), v);
            assert_eq!(u32::from(AcctTerminateCause::from(v)), v);
            assert_eq!(u32::from(NasPortType::from(v)), v);
        }
    }
}
