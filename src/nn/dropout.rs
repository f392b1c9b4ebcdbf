//! Dropout (the book, chapter 3): while a network trains, each hidden neuron of each example is
//! dropped with probability `p`, and the neurons kept are scaled by `1 / (1 - p)` ("inverted"
//! dropout), so that the expected input of the next layer is unchanged and evaluation needs no
//! change at all.
//!
//! The masks come from a counter-based stream of the run's seeded generator: the uniform number
//! of hidden neuron `j` of the example at position `t` of the run's sequence of training examples
//! (epoch after epoch) is word `t * H + offset + j` of the stream (`H` hidden neurons in all), so
//! a mask depends on the seed and the position alone, never on how a mini-batch is split into
//! parallel chunks, on the thread count, or on the other runs of a lockstep group. The runs of a
//! group share the seed and so the uniform numbers; each run compares them with its own `p`.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The dropout masks of one example for every run of a group, with the activations before
/// dropping (the slopes of the backward pass are computed from those).
#[derive(Debug, Clone)]
pub struct Masks {
    rng: ChaCha8Rng,
    /// Widths of the hidden layers (unpadded), and padded.
    widths: Vec<usize>,
    pad: Vec<usize>,
    /// Uniform numbers per example: the sum of `widths`.
    words: u64,
    /// One uniform number per hidden neuron of the current example, layer after layer.
    uniform: Vec<f32>,
    /// `scale[l]`: `[runs * pad[l]]`, 0 for a dropped neuron and `1 / (1 - p)` for a kept one.
    pub(super) scale: Vec<Vec<f32>>,
    /// `kept[l]`: the activations of hidden layer `l` before the mask.
    pub(super) kept: Vec<Vec<f32>>,
}

impl Masks {
    /// Masks for a group of `runs` networks of layer `sizes` (padded widths `pad`), drawn from
    /// `rng`: the run's generator seeded with its seed, on a stream of its own.
    pub fn new(rng: ChaCha8Rng, sizes: &[usize], pad: &[usize], runs: usize) -> Masks {
        let hidden = sizes.len().saturating_sub(2);
        let widths: Vec<usize> = sizes[1..=hidden].to_vec();
        let pad: Vec<usize> = pad[..hidden].to_vec();
        Masks {
            rng,
            words: widths.iter().sum::<usize>() as u64,
            uniform: vec![0.0; widths.iter().sum()],
            scale: pad.iter().map(|&p| vec![0.0; runs * p]).collect(),
            kept: pad.iter().map(|&p| vec![0.0; runs * p]).collect(),
            widths,
            pad,
        }
    }

    /// Draws the masks of the example at `position` for runs with dropout probabilities `p`.
    pub fn draw(&mut self, position: u64, p: impl Iterator<Item = f64> + Clone) {
        self.rng
            .set_word_pos(u128::from(position) * u128::from(self.words));
        for u in self.uniform.iter_mut() {
            // 24 random bits: a float in [0, 1) with every value exactly representable
            *u = (self.rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
        }
        let mut offset = 0;
        for (l, (&n, &pad)) in self.widths.iter().zip(&self.pad).enumerate() {
            let uniform = &self.uniform[offset..offset + n];
            for (r, p) in p.clone().enumerate() {
                let keep = (1.0 / (1.0 - p)) as f32;
                let p = p as f32;
                let scale = &mut self.scale[l][r * pad..(r + 1) * pad];
                for (s, &u) in scale.iter_mut().zip(uniform) {
                    *s = if u < p { 0.0 } else { keep };
                }
            }
            offset += n;
        }
    }
}

/// The generator of a run's masks: seeded with the run's seed, on stream `stream`.
pub fn generator(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_drop_about_p_and_scale_the_rest() {
        let sizes = [784, 30, 20, 10];
        let pad = [32, 32, 16];
        let mut m = Masks::new(generator(7, 3), &sizes, &pad, 2);
        let (mut dropped, mut total) = (0usize, 0usize);
        for t in 0..2000 {
            m.draw(t, [0.5, 0.2].into_iter());
            for (l, &n) in [30usize, 20].iter().enumerate() {
                let lane0 = &m.scale[l][..n];
                let lane1 = &m.scale[l][32..32 + n];
                assert!(lane0.iter().all(|&s| s == 0.0 || s == 2.0));
                assert!(lane1.iter().all(|&s| s == 0.0 || s == 1.25));
                // the lanes share the uniform numbers: a neuron kept at p = 0.5 is kept at 0.2
                for (a, b) in lane0.iter().zip(lane1) {
                    assert!(*a == 0.0 || *b > 0.0);
                }
                dropped += lane0.iter().filter(|&&s| s == 0.0).count();
                total += n;
            }
        }
        let rate = dropped as f64 / total as f64;
        assert!((rate - 0.5).abs() < 0.01, "dropped {rate}");
    }

    #[test]
    fn a_mask_depends_on_the_position_alone() {
        let sizes = [784, 30, 10];
        let pad = [32, 16];
        let mut a = Masks::new(generator(1, 3), &sizes, &pad, 1);
        let mut b = Masks::new(generator(1, 3), &sizes, &pad, 1);
        // b draws other positions first: the mask at position 41 is the same
        for t in [5, 900, 3] {
            b.draw(t, [0.5].into_iter());
        }
        a.draw(41, [0.5].into_iter());
        b.draw(41, [0.5].into_iter());
        assert_eq!(a.scale, b.scale);
        b.draw(42, [0.5].into_iter());
        assert_ne!(a.scale, b.scale);
        let mut c = Masks::new(generator(2, 3), &sizes, &pad, 1);
        c.draw(41, [0.5].into_iter());
        assert_ne!(a.scale, c.scale, "another seed, another mask");
    }
}
