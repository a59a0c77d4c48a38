//! In-band DTMF: digits heard in the audio itself, for peers that did not negotiate
//! telephone-events (old gateways, some carriers). Goertzel filters at the eight DTMF
//! frequencies over 20 ms blocks; a digit counts once its tone pair held for two blocks in a
//! row, and again only after the line went quiet (ITU-T Q.24: tones last ≥ 40 ms).

use super::prompt::SAMPLE_RATE;

const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// One block: 20 ms at 8 kHz.
pub const BLOCK: usize = 160;
/// The tone pair must carry this share of the block's energy (speech spreads it wider).
const PAIR_SHARE: f32 = 0.6;
/// Below this mean energy per sample a block is silence (about -45 dBm0 for 16-bit PCM).
const MIN_POWER: f32 = 2.0e4;
/// Forward and reverse twist allowed between the two tones (8 dB, ITU-T Q.24 allows 4-8).
const MAX_TWIST: f32 = 6.3;

/// Feeds on 8 kHz linear audio; reports each digit once.
#[derive(Debug, Default)]
pub struct InbandDetector {
    block: Vec<f32>,
    /// The digit seen in the previous block, and whether it has been reported.
    last: Option<(char, bool)>,
}

impl InbandDetector {
    /// Adds samples; returns a digit when one completes.
    pub fn push(&mut self, samples: impl IntoIterator<Item = i16>) -> Option<char> {
        let mut found = None;
        for sample in samples {
            self.block.push(sample as f32);
            if self.block.len() == BLOCK {
                let digit = detect(&self.block);
                self.block.clear();
                found = found.or(self.on_block(digit));
            }
        }
        found
    }

    fn on_block(&mut self, digit: Option<char>) -> Option<char> {
        match (digit, self.last) {
            (Some(d), Some((prev, reported))) if d == prev => {
                self.last = Some((d, true));
                (!reported).then_some(d)
            }
            (Some(d), _) => {
                self.last = Some((d, false));
                None
            }
            (None, _) => {
                self.last = None;
                None
            }
        }
    }
}

/// The digit a block holds, if it is a clean DTMF tone pair.
fn detect(block: &[f32]) -> Option<char> {
    let energy: f32 = block.iter().map(|s| s * s).sum();
    if energy / (block.len() as f32) < MIN_POWER {
        return None;
    }
    let low = LOW.map(|f| goertzel(block, f));
    let high = HIGH.map(|f| goertzel(block, f));
    let (li, lp) = strongest(&low);
    let (hi, hp) = strongest(&high);
    // Goertzel power relates to the block energy as |X(f)|^2 ≈ (N/2) · E for a pure tone.
    let pair_energy = 2.0 * (lp + hp) / block.len() as f32;
    let twist_ok = lp <= hp * MAX_TWIST && hp <= lp * MAX_TWIST;
    let dominant = low.iter().enumerate().all(|(i, p)| i == li || *p * 4.0 < lp)
        && high.iter().enumerate().all(|(i, p)| i == hi || *p * 4.0 < hp);
    (pair_energy >= PAIR_SHARE * energy && twist_ok && dominant).then_some(KEYS[li][hi])
}

fn strongest(powers: &[f32; 4]) -> (usize, f32) {
    powers
        .iter()
        .copied()
        .enumerate()
        .fold((0, f32::MIN), |best, (i, p)| if p > best.1 { (i, p) } else { best })
}

/// The power of `freq` in the block (the Goertzel algorithm: one DFT bin, no FFT).
fn goertzel(block: &[f32], freq: f32) -> f32 {
    let coeff = 2.0 * (std::f32::consts::TAU * freq / SAMPLE_RATE as f32).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in block {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// A DTMF tone pair for `digit`, `ms` long, for tests and peers' simulations.
pub fn tone(digit: char, ms: u32) -> Vec<i16> {
    let (row, col) = KEYS
        .iter()
        .enumerate()
        .find_map(|(r, keys)| keys.iter().position(|k| *k == digit).map(|c| (r, c)))
        .expect("a DTMF key");
    let n = (SAMPLE_RATE * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            let v = (std::f32::consts::TAU * LOW[row] * t).sin() + (std::f32::consts::TAU * HIGH[col] * t).sin();
            (v * 6000.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_all(samples: &[i16]) -> String {
        let mut detector = InbandDetector::default();
        samples
            .chunks(BLOCK)
            .filter_map(|chunk| detector.push(chunk.iter().copied()))
            .collect()
    }

    #[test]
    fn every_key_is_heard_once() {
        for key in "0123456789*#ABCD".chars() {
            let mut audio = tone(key, 100);
            audio.extend(vec![0; 800]);
            assert_eq!(detect_all(&audio), key.to_string(), "key {key}");
        }
    }

    #[test]
    fn a_sequence_needs_a_gap_between_equal_digits() {
        let mut audio = Vec::new();
        for key in ['1', '1', '2'] {
            audio.extend(tone(key, 80));
            audio.extend(vec![0; 400]);
        }
        assert_eq!(detect_all(&audio), "112");
        // One long press is one digit.
        assert_eq!(detect_all(&tone('5', 600)), "5");
    }

    #[test]
    fn speech_like_sound_and_short_blips_are_not_digits() {
        // A chord of three voice-band tones, and a single tone.
        let chord: Vec<i16> = (0..4000)
            .map(|i| {
                let t = i as f32 / 8000.0;
                ((t * 440.0 * std::f32::consts::TAU).sin() * 3000.0
                    + (t * 660.0 * std::f32::consts::TAU).sin() * 3000.0
                    + (t * 1100.0 * std::f32::consts::TAU).sin() * 3000.0) as i16
            })
            .collect();
        assert_eq!(detect_all(&chord), "");
        let single: Vec<i16> = (0..4000)
            .map(|i| ((i as f32 / 8000.0 * 697.0 * std::f32::consts::TAU).sin() * 8000.0) as i16)
            .collect();
        assert_eq!(detect_all(&single), "");
        // 20 ms of a tone pair is too short to be a press.
        let mut blip = tone('9', 20);
        blip.extend(vec![0; 800]);
        assert_eq!(detect_all(&blip), "");
    }
}
