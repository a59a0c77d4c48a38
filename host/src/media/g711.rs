//! G.711 µ-law and A-law encoding (ITU-T G.711), the two codecs every phone speaks.

const MULAW_BIAS: i32 = 0x84;
const MULAW_CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample as µ-law (PCMU).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(MULAW_CLIP) + MULAW_BIAS;
    let exponent = (7 - ((s as u32) << 17).leading_zeros().min(7)) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// Decodes one µ-law byte to 16-bit linear.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = ((b >> 4) & 0x07) as i32;
    let mantissa = (b & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
    if sign != 0 { -magnitude as i16 } else { magnitude as i16 }
}

/// Encodes one 16-bit linear sample as A-law (PCMA).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let (mask, magnitude) = if sample >= 0 {
        (0xd5u8, (sample as i32) >> 3)
    } else {
        (0x55u8, (-(sample as i32) - 1) >> 3)
    };
    let magnitude = magnitude.min(0xfff);
    let byte = if magnitude < 0x20 {
        (magnitude >> 1) as u8
    } else {
        let exponent = 31 - (magnitude as u32).leading_zeros() - 4; // 1..=7
        ((exponent << 4) as u8) | (((magnitude >> exponent) & 0x0f) as u8)
    };
    byte ^ mask
}

/// Decodes one A-law byte to 16-bit linear.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let sign = b & 0x80;
    let exponent = ((b >> 4) & 0x07) as i32;
    let mantissa = (b & 0x0f) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign != 0 { magnitude as i16 } else { -magnitude as i16 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trip_is_close() {
        for s in (-32000i32..32000).step_by(97) {
            let d = ulaw_to_linear(linear_to_ulaw(s as i16)) as i32;
            assert!((d - s).abs() <= (s.abs() / 16).max(8) + 8, "{s} -> {d}");
        }
    }

    #[test]
    fn alaw_round_trip_is_close() {
        for s in (-32000i32..32000).step_by(97) {
            let d = alaw_to_linear(linear_to_alaw(s as i16)) as i32;
            assert!((d - s).abs() <= (s.abs() / 16).max(16) + 16, "{s} -> {d}");
        }
    }

    #[test]
    fn silence_has_the_standard_codes() {
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_alaw(0), 0xd5);
    }
}
