//! Minimal RTCP (RFC 3550 §6): we send sender reports with a CNAME so the peer's
//! statistics stay happy, and receive (and otherwise ignore) whatever the peer sends.
//!
//! ```text
//! SR:   |V=2|P|RC=0|  PT=200  |  length=6  |  SSRC  |  NTP sec  |  NTP frac  |
//!       |  RTP timestamp  |  sender's packet count  |  sender's octet count  |
//! SDES: |V=2|P|SC=1|  PT=202  |  length  |  SSRC  | CNAME=1 | len | text | 0 pad |
//! ```

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Build a compound SR + SDES(CNAME) packet into `out`; returns its length.
pub fn build_sender_report(
    out: &mut [u8; 128],
    ssrc: u32,
    rtp_ts: u32,
    packets: u32,
    octets: u32,
    cname: &str,
) -> usize {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = (now.as_secs() + NTP_UNIX_OFFSET) as u32;
    let frac = ((now.subsec_nanos() as u64) << 32) / 1_000_000_000;
    out[0] = 0x80;
    out[1] = 200;
    out[2..4].copy_from_slice(&6u16.to_be_bytes());
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8..12].copy_from_slice(&secs.to_be_bytes());
    out[12..16].copy_from_slice(&(frac as u32).to_be_bytes());
    out[16..20].copy_from_slice(&rtp_ts.to_be_bytes());
    out[20..24].copy_from_slice(&packets.to_be_bytes());
    out[24..28].copy_from_slice(&octets.to_be_bytes());
    // SDES with one chunk: SSRC, CNAME item, terminating zero, padded to 32 bits.
    let name = &cname.as_bytes()[..cname.len().min(64)];
    let chunk_len = 4 + 2 + name.len() + 1;
    let padded = chunk_len.div_ceil(4) * 4;
    let sdes = 28;
    out[sdes] = 0x81;
    out[sdes + 1] = 202;
    out[sdes + 2..sdes + 4].copy_from_slice(&((padded / 4) as u16).to_be_bytes());
    out[sdes + 4..sdes + 8].copy_from_slice(&ssrc.to_be_bytes());
    out[sdes + 8] = 1;
    out[sdes + 9] = name.len() as u8;
    out[sdes + 10..sdes + 10 + name.len()].copy_from_slice(name);
    for b in &mut out[sdes + 10 + name.len()..sdes + 4 + padded] {
        *b = 0;
    }
    sdes + 4 + padded
}

/// Whether `data` looks like an RTCP compound packet (version 2, first packet SR/RR/SDES/BYE/APP,
/// lengths consistent).
pub fn is_valid_rtcp(data: &[u8]) -> bool {
    let mut pos = 0;
    if data.len() < 4 || !(200..=204).contains(&data[1]) {
        return false;
    }
    while pos + 4 <= data.len() {
        if data[pos] >> 6 != 2 {
            return false;
        }
        let words = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        pos += 4 + words * 4;
    }
    pos == data.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_report_is_well_formed() {
        let mut buf = [0u8; 128];
        let n = build_sender_report(&mut buf, 0x1234_5678, 160, 50, 8000, "hotline");
        assert!(is_valid_rtcp(&buf[..n]));
        assert_eq!(n % 4, 0);
        assert_eq!(&buf[4..8], &0x1234_5678u32.to_be_bytes());
        assert_eq!(&buf[20..24], &50u32.to_be_bytes());
        assert_eq!(buf[29], 202);
        assert_eq!(&buf[38..45], b"hotline");
    }

    #[test]
    fn garbage_is_not_rtcp() {
        assert!(!is_valid_rtcp(b""));
        assert!(!is_valid_rtcp(&[0x80, 200, 0, 9, 1, 2, 3, 4]));
        assert!(!is_valid_rtcp(&[0x80, 0, 0, 0]));
    }
}
