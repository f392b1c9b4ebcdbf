use super::*;
use crate::data::pixel;
use crate::nn::maths::sigmoid;
use crate::nn::params::Init;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Lanes of every kind: both sigmoid costs, softmax with the log-likelihood, tanh and ReLU
/// hidden layers.
fn params() -> Vec<RunParams> {
    vec![
        RunParams::sgd(3.0, 0.0, Cost::Quadratic),
        RunParams::sgd(0.5, 5.0, Cost::CrossEntropy),
        RunParams {
            activation: Activation::Tanh,
            ..RunParams::sgd(0.1, 0.0, Cost::LogLikelihood)
        },
        RunParams {
            activation: Activation::Relu,
            ..RunParams::sgd(0.1, 0.0, Cost::CrossEntropy)
        },
        RunParams {
            activation: Activation::Relu,
            ..RunParams::sgd(0.1, 0.0, Cost::LogLikelihood)
        },
    ]
}

/// The first layer's gradient summed over the accumulated examples, dense, laid out as
/// `w[0]`: sum over examples of x_k * delta.
fn first_layer_gradient(group: &Lockstep, grads: &Grads, examples: &Examples) -> Vec<f32> {
    let row_len = group.runs * group.pad[0];
    let mut g = vec![0f32; group.w[0].len()];
    for (slot, &i) in grads.rows.iter().enumerate() {
        let d = &grads.d0[slot * row_len..(slot + 1) * row_len];
        let (index, value) = examples.nonzero(i as usize);
        for (&k, &v) in index.iter().zip(value) {
            let row = &mut g[k as usize * row_len..(k as usize + 1) * row_len];
            row.iter_mut().zip(d).for_each(|(g, &d)| *g += pixel(v) * d);
        }
    }
    g
}

#[test]
fn update_parts_hold_equal_shares_of_the_pixels() {
    let data = crate::tests_support::mnist();
    let examples = data.train.examples(2000);
    let net = Network::new(&[784, 10], Init::Large, &mut ChaCha8Rng::seed_from_u64(1));
    let mut group = Lockstep::from_network(&net, 1);
    assert_eq!(group.part_rows(1, &examples), [0, 784]);
    let mut counts = vec![0u64; 784];
    for i in 0..examples.len() {
        for &k in examples.nonzero(i).0 {
            counts[k as usize] += 1;
        }
    }
    for parts in [2, 3, 4, 8] {
        let bounds = group.part_rows(parts, &examples).to_vec();
        assert_eq!(bounds.len(), parts + 1);
        assert_eq!((bounds[0], bounds[parts]), (0, 784));
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        let total: u64 = counts.iter().sum();
        let busiest = *counts.iter().max().unwrap();
        for w in bounds.windows(2) {
            let share: u64 = counts[w[0]..w[1]].iter().sum();
            // within one row's count of an equal share
            let fair = total / parts as u64;
            assert!(share.abs_diff(fair) <= busiest, "{parts} parts: {bounds:?}");
        }
    }
}

#[test]
fn accumulated_examples_record_where_each_parts_pixels_lie() {
    let data = crate::tests_support::mnist();
    let examples = data.train.examples(50);
    let net = Network::new(
        &[784, 30, 10],
        Init::Large,
        &mut ChaCha8Rng::seed_from_u64(1),
    );
    let group = Lockstep::from_network(&net, 2);
    let params = params()[..2].to_vec();
    let order: Vec<u32> = (0..50).rev().step_by(3).collect();
    for bounds in [vec![0, 784], vec![0, 300, 784], vec![0, 200, 201, 500, 784]] {
        let mut grads = group.grads();
        grads.set_parts(&bounds);
        group.accumulate(&mut grads, &params, &examples, &order, 0);
        let parts = bounds.len() - 1;
        assert_eq!(grads.spans.len(), order.len() * (parts + 1));
        for (slot, &i) in order.iter().enumerate() {
            let spans = &grads.spans[slot * (parts + 1)..(slot + 1) * (parts + 1)];
            let mut joined = (Vec::new(), Vec::new());
            for part in 0..parts {
                let (index, value) =
                    examples.pixels_at(spans[part] as usize, spans[part + 1] as usize);
                // the part's pixels are the example's pixels in its rows
                let rows = bounds[part]..bounds[part + 1];
                assert!(
                    index.iter().all(|&k| rows.contains(&(k as usize))),
                    "{bounds:?}"
                );
                joined.0.extend_from_slice(index);
                joined.1.extend_from_slice(value);
            }
            let (index, value) = examples.nonzero(i as usize);
            assert_eq!(
                (&joined.0[..], &joined.1[..]),
                (index, value),
                "example {i}"
            );
        }
        grads.clear();
        assert!(grads.spans.is_empty());
    }
}

#[test]
fn round_trips_through_a_plain_network() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for sizes in [vec![784, 30, 10], vec![784, 10], vec![784, 20, 17, 10]] {
        let net = Network::new(&sizes, Init::Large, &mut rng);
        let g = Lockstep::from_network(&net, 3);
        for r in 0..3 {
            assert_eq!(g.network(r), net);
        }
    }
}

/// The engine's gradient against central finite differences of its own cost, for both costs
/// in one group, on 2-, 3- and 4-layer networks, for a few examples of real MNIST.
#[test]
fn gradient_matches_finite_differences() {
    let data = crate::tests_support::mnist();
    let examples = data.train.examples(3);
    let params = params();
    for sizes in [vec![784, 10], vec![784, 7, 10], vec![784, 6, 5, 10]] {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let net = Network::new(&sizes, Init::Scaled, &mut rng);
        let runs = params.len();
        let mut group = Lockstep::from_network(&net, runs);
        let mut grads = group.grads();
        group.accumulate(&mut grads, &params, &examples, &[0, 1, 2], 0);
        let g0 = first_layer_gradient(&group, &grads, &examples);
        let cost = |g: &Lockstep| -> Vec<f64> {
            let mut total = vec![0.0; runs];
            for i in 0..3 {
                let (index, value) = examples.nonzero(i);
                let c = g.example_costs(&params, index, value, examples.labels[i] as usize);
                for (t, c) in total.iter_mut().zip(c) {
                    *t += c;
                }
            }
            total
        };
        let h = 1e-2f32;
        let mut checked = 0;
        for l in 0..group.layers() {
            // every weight and bias of the upper layers; every 97th of the first layer
            let n = group.w[l].len();
            let step = if l == 0 { 97 } else { 1 };
            for idx in (0..n + group.b[l].len()).step_by(step) {
                let (is_w, at) = if idx < n {
                    (true, idx)
                } else {
                    (false, idx - n)
                };
                let analytic = match (is_w, l) {
                    (true, 0) => g0[at],
                    (true, _) => grads.g[l][at],
                    (false, _) => grads.gb[l][at],
                } as f64;
                let run = if l == 0 {
                    (at % (runs * group.pad[0])) / group.pad[0]
                } else if is_w {
                    at / (group.sizes[l] * group.pad[l])
                } else {
                    at / group.pad[l]
                };
                fn param(g: &mut Lockstep, is_w: bool, l: usize, at: usize) -> &mut f32 {
                    if is_w {
                        &mut g.w[l][at]
                    } else {
                        &mut g.b[l][at]
                    }
                }
                let orig = *param(&mut group, is_w, l, at);
                *param(&mut group, is_w, l, at) = orig + h;
                let plus = cost(&group)[run];
                *param(&mut group, is_w, l, at) = orig - h;
                let minus = cost(&group)[run];
                *param(&mut group, is_w, l, at) = orig;
                let numeric = (plus - minus) / (2.0 * h as f64);
                let err = (numeric - analytic).abs() / (1e-3 + numeric.abs().max(analytic.abs()));
                assert!(
                    err < 2e-2,
                    "{sizes:?} run {run} ({:?}) layer {l} {} {at}: numeric {numeric} vs backprop {analytic}",
                    params[run],
                    if is_w { "weight" } else { "bias" }
                );
                checked += 1;
            }
        }
        assert!(checked > 40, "{checked}");
    }
}

#[test]
fn gradient_agrees_with_the_dense_reference() {
    let data = crate::tests_support::mnist();
    let examples = data.train.examples(10);
    let indices: Vec<u32> = (0..10).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let net = Network::new(&[784, 30, 10], Init::Large, &mut rng);
    for cost in Cost::ALL {
        let p = [RunParams::sgd(1.0, 0.0, cost)];
        let group = Lockstep::from_network(&net, 1);
        let mut grads = group.grads();
        group.accumulate(&mut grads, &p, &examples, &indices, 0);
        let g0 = first_layer_gradient(&group, &grads, &examples);
        let mut ws = crate::nn::reference::Workspace::for_training(&net.sizes, 10);
        ws.load_indices(&examples, &indices);
        net.backprop(&mut ws, 10, cost);
        let close = |fast: f32, dense: f32| (fast - dense).abs() <= 1e-4 * (1.0 + dense.abs());
        for j in 0..10 {
            for k in 0..30 {
                assert!(close(grads.g[1][k * 16 + j], ws.grad_w[1][[j, k]]));
            }
        }
        for k in 0..784 {
            for j in 0..30 {
                assert!(close(g0[k * 32 + j], ws.grad_w[0][[j, k]]), "{k} {j}");
            }
        }
    }
}

#[test]
fn retained_lanes_keep_their_parameters() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let sizes = [784, 20, 12, 10];
    let nets: Vec<Network> = (0..4)
        .map(|_| Network::new(&sizes, Init::Scaled, &mut rng))
        .collect();
    // a group of four different networks, built lane by lane
    let mut group = Lockstep::from_network(&nets[0], 4);
    for (r, net) in nets.iter().enumerate() {
        let one = Lockstep::from_network(net, 1);
        for (l, &n_in) in sizes[..3].iter().enumerate() {
            let p = group.pad[l];
            for k in 0..n_in {
                let at = if l == 0 {
                    k * 4 * p + r * p
                } else {
                    (r * n_in + k) * p
                };
                group.w[l][at..at + p].copy_from_slice(one.row(l, 0, k));
            }
            group.b[l][r * p..(r + 1) * p].copy_from_slice(&one.b[l][..p]);
            if l > 0 {
                group.transpose(l, r);
            }
        }
    }
    for (r, net) in nets.iter().enumerate() {
        assert_eq!(&group.network(r), net);
    }
    group.retain(&[1, 3]);
    assert_eq!(group.runs(), 2);
    assert_eq!(group.network(0), nets[1]);
    assert_eq!(group.network(1), nets[3]);
    let one = Lockstep::from_network(&nets[3], 1);
    let block = 10 * group.pad[1];
    assert_eq!(
        &group.wt[2][block..],
        &one.wt[2][..],
        "the transposes follow"
    );
}

#[test]
fn momentum_step_by_hand() {
    // w = 2, v = 0.5, summed gradient g = 4, mu = 0.9, eta = 0.5, m = 2 -> rate = 0.25,
    // lambda = 10, n = 100 -> wd = 0.05:
    // v' = 0.9 * 0.5 - (0.05 * 2 + 0.25 * 4) = 0.45 - 1.1 = -0.65; w' = 2 - 0.65 = 1.35
    let (mut w, mut v) = (2.0f32, 0.5f32);
    momentum_step(&mut w, &mut v, 4.0, 0.9, 0.25, 0.05);
    assert!((v + 0.65).abs() < 1e-6, "{v}");
    assert!((w - 1.35).abs() < 1e-6, "{w}");
    // a second step with g = 0: v'' = 0.9 * -0.65 - 0.05 * 1.35 = -0.6525; w'' = 0.6975
    momentum_step(&mut w, &mut v, 0.0, 0.9, 0.25, 0.05);
    assert!((v + 0.6525).abs() < 1e-6, "{v}");
    assert!((w - 0.6975).abs() < 1e-6, "{w}");
    // mu = 0 and no decay is the plain step w - rate g
    let (mut w, mut v) = (1.0f32, 123.0f32);
    momentum_step(&mut w, &mut v, 2.0, 0.0, 0.25, 0.0);
    assert_eq!(w, 0.5);
}

#[test]
fn momentum_steps_match_the_formula_on_every_parameter() {
    // Three mini-batches of momentum SGD with weight decay (the second split in two chunks)
    // against v <- mu v - eta (lambda / n) w - (eta / m) grad, w <- w + v, computed on the
    // plain network from the reference gradients.
    let data = crate::tests_support::mnist();
    let examples = data.train.examples(30);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut net = Network::new(&[784, 20, 10], Init::Scaled, &mut rng);
    let (eta, lambda, mu, n, m) = (0.5f64, 5.0f64, 0.9f32, 1000usize, 10usize);
    let p = [RunParams {
        momentum: mu as f64,
        ..RunParams::sgd(eta, lambda, Cost::CrossEntropy)
    }];
    let mut group = Lockstep::from_network(&net, 1);
    let mut chunks = vec![group.grads(), group.grads()];
    let mut ws = crate::nn::reference::Workspace::for_training(&net.sizes, m);
    let mut vw: Vec<_> = net.weights.iter().map(|w| w.mapv(|_| 0f32)).collect();
    let mut vb: Vec<_> = net.biases.iter().map(|b| b.mapv(|_| 0f32)).collect();
    let rate = (eta / m as f64) as f32;
    let wd = (eta * lambda / n as f64) as f32;
    for (step, batch) in (0u32..30).collect::<Vec<_>>().chunks(m).enumerate() {
        if step == 1 {
            group.accumulate(&mut chunks[0], &p, &examples, &batch[..4], 0);
            group.accumulate(&mut chunks[1], &p, &examples, &batch[4..], 0);
            group.apply(&mut chunks, &p, &examples, m, n);
        } else {
            group.accumulate(&mut chunks[0], &p, &examples, batch, 0);
            group.apply(&mut chunks[..1], &p, &examples, m, n);
        }
        ws.load_indices(&examples, batch);
        net.backprop(&mut ws, m, Cost::CrossEntropy);
        for l in 0..2 {
            ndarray::Zip::from(&mut net.weights[l])
                .and(&mut vw[l])
                .and(&ws.grad_w[l])
                .for_each(|w, v, &g| {
                    *v = mu * *v - wd * *w - rate * g;
                    *w += *v;
                });
            ndarray::Zip::from(&mut net.biases[l])
                .and(&mut vb[l])
                .and(&ws.grad_b[l])
                .for_each(|b, v, &g| {
                    *v = mu * *v - rate * g;
                    *b += *v;
                });
        }
    }
    let fast = group.network(0);
    let mut moved = 0;
    for l in 0..2 {
        for (a, b) in fast.weights[l].iter().zip(net.weights[l].iter()) {
            assert!((a - b).abs() <= 2e-5 * (1.0 + b.abs()), "{a} {b}");
        }
        for (a, b) in fast.biases[l].iter().zip(net.biases[l].iter()) {
            assert!((a - b).abs() <= 2e-5 * (1.0 + b.abs()), "{a} {b}");
        }
        moved += fast.weights[l]
            .iter()
            .zip(
                Lockstep::from_network(
                    &Network::new(
                        &[784, 20, 10],
                        Init::Scaled,
                        &mut ChaCha8Rng::seed_from_u64(8),
                    ),
                    1,
                )
                .network(0)
                .weights[l]
                    .iter(),
            )
            .filter(|(a, b)| a != b)
            .count();
    }
    assert!(moved > 1000, "the steps changed {moved} weights");
}

#[test]
fn steps_match_the_plain_formula() {
    // SGD steps with weight decay, the batch split in two chunks, equal the dense
    // reference's steps up to float rounding.
    let data = crate::tests_support::mnist();
    let examples = data.train.examples(20);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut net = Network::new(&[784, 20, 10], Init::Scaled, &mut rng);
    let p = [RunParams::sgd(0.5, 5.0, Cost::CrossEntropy)];
    let mut group = Lockstep::from_network(&net, 1);
    let mut chunks = vec![group.grads(), group.grads()];
    let mut ws = crate::nn::reference::Workspace::for_training(&net.sizes, 10);
    for batch in [
        [0u32, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
    ] {
        group.accumulate(&mut chunks[0], &p, &examples, &batch[..4], 0);
        group.accumulate(&mut chunks[1], &p, &examples, &batch[4..], 0);
        group.apply(&mut chunks, &p, &examples, 10, 1000);
        ws.load_indices(&examples, &batch);
        net.backprop(&mut ws, 10, Cost::CrossEntropy);
        net.apply_gradient(
            &ws.grad_w,
            &ws.grad_b,
            0.05,
            (1.0 - 0.5 * 5.0 / 1000.0) as f32,
        );
    }
    let fast = group.network(0);
    for l in 0..2 {
        for (a, b) in fast.weights[l].iter().zip(net.weights[l].iter()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} {b}");
        }
        for (a, b) in fast.biases[l].iter().zip(net.biases[l].iter()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} {b}");
        }
    }
    assert!(chunks.iter().all(|c| c.rows.is_empty()));
    assert!(chunks[0].gb.iter().all(|g| g.iter().all(|&x| x == 0.0)));
}

/// Dropout worked by hand on one example and one SGD step of a [784, 3, 10] network
/// (quadratic cost, eta 2, batch 1): the mask drawn for a position of seed 9's stream drops
/// some hidden neurons and scales the others by 1 / (1 - p); the engine's new weights are
/// those of the book's backpropagation written out neuron by neuron with that mask.
#[test]
fn dropout_matches_a_hand_worked_step() {
    use crate::nn::dropout::{generator, Masks};
    let data = crate::tests_support::mnist();
    let examples = data.train.examples(1);
    let (index, value) = examples.nonzero(0);
    let label = examples.labels[0] as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let net = Network::new(&[784, 3, 10], Init::Scaled, &mut rng);
    let (eta, p) = (2.0f32, 0.5);
    let params = [RunParams {
        dropout: p,
        ..RunParams::sgd(eta as f64, 0.0, Cost::Quadratic)
    }];
    // the mask, drawn as the engine draws it, at the first position that both drops a
    // neuron and keeps one
    let mut masks = Masks::new(generator(9, 3), &[784, 3, 10], &[16, 16], 1);
    let position = (0..)
        .find(|&t| {
            masks.draw(t, [p].into_iter());
            let s = &masks.scale[0][..3];
            s.contains(&0.0) && s.contains(&2.0)
        })
        .unwrap();
    let scale: Vec<f32> = masks.scale[0][..3].to_vec();
    assert!(scale.iter().all(|&s| s == 0.0 || s == 2.0));
    // by hand: hidden a = sigmoid(W1 x + b1), h = a * scale, output o = sigmoid(W2 h + b2)
    let (w1, b1, w2, b2) = (
        &net.weights[0],
        &net.biases[0],
        &net.weights[1],
        &net.biases[1],
    );
    let mut a = [0f32; 3];
    for j in 0..3 {
        let mut z = b1[j];
        for (&k, &v) in index.iter().zip(value) {
            z += w1[[j, k as usize]] * pixel(v);
        }
        a[j] = sigmoid(z);
    }
    let h: Vec<f32> = (0..3).map(|j| a[j] * scale[j]).collect();
    let mut d_out = [0f32; 10];
    for (i, d) in d_out.iter_mut().enumerate() {
        let z = b2[i] + (0..3).map(|j| w2[[i, j]] * h[j]).sum::<f32>();
        let o = sigmoid(z);
        let y = (i == label) as u8 as f32;
        *d = (o - y) * o * (1.0 - o);
    }
    let d_hidden: Vec<f32> = (0..3)
        .map(|j| {
            let back: f32 = (0..10).map(|i| w2[[i, j]] * d_out[i]).sum();
            back * a[j] * (1.0 - a[j]) * scale[j]
        })
        .collect();
    // the engine's step
    let mut group = Lockstep::from_network(&net, 1);
    let mut grads = vec![group.grads_with_dropout(generator(9, 3))];
    group.accumulate(&mut grads[0], &params, &examples, &[0], position);
    group.apply(&mut grads, &params, &examples, 1, 1);
    let after = group.network(0);
    let close = |x: f32, y: f32| (x - y).abs() <= 1e-6 * (1.0 + y.abs());
    for j in 0..3 {
        let want = b1[j] - eta * d_hidden[j];
        assert!(close(after.biases[0][j], want), "b1[{j}]");
        for (&k, &v) in index.iter().zip(value) {
            let want = w1[[j, k as usize]] - eta * d_hidden[j] * pixel(v);
            assert!(
                close(after.weights[0][[j, k as usize]], want),
                "w1[{j}, {k}]"
            );
        }
        if scale[j] == 0.0 {
            // a dropped neuron learns nothing from this example, in or out
            assert_eq!(after.biases[0][j], b1[j]);
            assert!((0..10).all(|i| after.weights[1][[i, j]] == w2[[i, j]]));
        }
    }
    for i in 0..10 {
        assert!(close(after.biases[1][i], b2[i] - eta * d_out[i]), "b2[{i}]");
        for j in 0..3 {
            let want = w2[[i, j]] - eta * d_out[i] * h[j];
            assert!(close(after.weights[1][[i, j]], want), "w2[{i}, {j}]");
        }
    }
}

/// With dropout on, lanes stay independent: a lane trained in a group of three computes the
/// same bits as alone, and p = 0 inside a dropout group is plain training (scale 1).
#[test]
fn dropout_lanes_are_independent() {
    use crate::nn::dropout::generator;
    let data = crate::tests_support::mnist();
    let examples = data.train.examples(40);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let net = Network::new(&[784, 12, 8, 10], Init::Scaled, &mut rng);
    let all = [
        RunParams {
            dropout: 0.5,
            ..RunParams::sgd(0.5, 0.0, Cost::CrossEntropy)
        },
        RunParams {
            dropout: 0.2,
            activation: Activation::Relu,
            ..RunParams::sgd(0.1, 1.0, Cost::LogLikelihood)
        },
        RunParams {
            dropout: 0.0,
            ..RunParams::sgd(3.0, 0.0, Cost::Quadratic)
        },
    ];
    let train = |params: &[RunParams], dropout: bool| -> Lockstep {
        let mut g = Lockstep::from_network(&net, params.len());
        let mut grads = vec![if dropout {
            g.grads_with_dropout(generator(1, 3))
        } else {
            g.grads()
        }];
        for b in 0..4u32 {
            let batch: Vec<u32> = (b * 10..b * 10 + 10).collect();
            g.accumulate(&mut grads[0], params, &examples, &batch, (b * 10) as u64);
            g.apply(&mut grads, params, &examples, 10, 40);
        }
        g
    };
    let fused = train(&all, true);
    for (r, p) in all.iter().enumerate() {
        let alone = train(std::slice::from_ref(p), true);
        assert_eq!(fused.network(r), alone.network(0), "lane {r}");
    }
    assert_eq!(
        fused.network(2),
        train(&all[2..], false).network(0),
        "p = 0 is plain SGD"
    );
    assert_ne!(fused.network(0), train(&all[..1], false).network(0));
}

mod properties {
    use super::*;
    use crate::nn::engine::step::scale_dispatch;
    use crate::nn::simd::Scalar;
    use proptest::prelude::*;

    /// Rows of whole vectors: 1 to 8 vectors of `LANES` floats.
    fn rows(n: usize) -> impl Strategy<Value = Vec<Vec<f32>>> {
        (1usize..=8).prop_flat_map(move |v| {
            proptest::collection::vec(proptest::collection::vec(-1e3f32..1e3, v * LANES), n)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every dispatched kernel (at the instruction set this processor has) computes the
        /// bits of its scalar twin, whatever the shape.
        #[test]
        fn kernels_compute_the_bits_of_their_scalar_twin(
            r in rows(3),
            decay in 0.5f32..1.0,
            rate in -1.0f32..1.0,
        ) {
            let (y, x, z) = (&r[0], &r[1], &r[2]);
            let twin = |f: &dyn Fn(&mut [f32])| {
                let mut out = y.clone();
                f(&mut out);
                out
            };
            // SAFETY (each unsafe block below): plain scalars need no instruction set.
            prop_assert_eq!(
                twin(&|o| add_dispatch(o, x)),
                twin(&|o| unsafe { add_rows::<Scalar>(o, x) })
            );
            prop_assert_eq!(
                twin(&|o| step_dispatch(o, x, decay, rate)),
                twin(&|o| unsafe { step_plain::<Scalar>(o, x, decay, rate) })
            );
            prop_assert_eq!(
                twin(&|o| scale_dispatch(o, x)),
                twin(&|o| unsafe { scale_lanes::<Scalar>(o, x) })
            );
            // momentum's decay row by row, mu and wd one row's lanes
            let row = LANES;
            prop_assert_eq!(
                twin(&|o| momentum_decay_dispatch(o, x, &z[..row], &x[..row])),
                twin(&|o| unsafe { momentum_decay::<Scalar>(o, x, &z[..row], &x[..row]) })
            );
        }

        /// The first layer's rows split in any number of parts: `parts + 1` bounds from 0 to
        /// the last row, never decreasing, whatever the examples.
        #[test]
        fn the_first_layers_parts_cover_its_rows_in_order(
            examples in 1usize..400,
            parts in 1usize..10,
        ) {
            let data = crate::tests_support::mnist();
            let examples = data.train.examples(examples);
            let net = Network::new(&[784, 10], Init::Large, &mut ChaCha8Rng::seed_from_u64(1));
            let mut group = Lockstep::from_network(&net, 1);
            let bounds = group.part_rows(parts, &examples).to_vec();
            prop_assert_eq!(bounds.len(), parts + 1);
            prop_assert_eq!((bounds[0], bounds[parts]), (0, 784));
            prop_assert!(bounds.windows(2).all(|w| w[0] <= w[1]), "{:?}", bounds);
        }
    }
}
