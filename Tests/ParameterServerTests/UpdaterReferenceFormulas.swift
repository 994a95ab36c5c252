import Testing

@testable import ParameterServer

/// The updaters' published formulas, written out per coordinate from the papers and textbooks and
/// not from `Sources/ParameterServer/Storage`, together with the pushes the reference tests replay.
///
/// Every formula runs in `Float` in the order the publication writes it, which is also the order the
/// servers compute in, so the reference tests compare with `==`: a store that drops or reorders a
/// term is off by at least one rounding, usually by far more.
enum UpdaterReference {
    /// One coordinate: its stored value and the updater's state for it.
    struct Coordinate: Equatable {
        var w: Float = 0
        /// AdaGrad's accumulated squared gradient, or FTRL's `n`.
        var n: Float = 0
        /// FTRL's `z`.
        var z: Float = 0
    }

    /// A built-in updater and its hyper-parameters, under the option names the registry uses.
    struct Rule: CustomTestStringConvertible, Sendable {
        var name: String
        var options: [String: Double]

        var testDescription: String {
            name + (options.isEmpty ? "" : " " + options.keys.sorted().map { "\($0)=\(options[$0]!)" }.joined(separator: " "))
        }

        /// The option `key` as the updater reads it: a `Double` from the topology, kept as `Float`.
        func option(_ key: String, _ defaultValue: Double) -> Float { Float(options[key] ?? defaultValue) }

        /// Folds gradient (or pushed value) `g` into `c` by the published formula of `name`.
        func step(_ c: inout Coordinate, _ g: Float) {
            switch name {
            case "assign":
                c.w = g
            case "add":
                c.w = c.w + g
            case "sgd":
                // w ← w − η (g + λ w): gradient descent on the loss plus (λ/2)‖w‖².
                let eta = option("learning_rate", 0.1), lambda = option("l2", 0)
                c.w = c.w - eta * (g + lambda * c.w)
            case "adagrad":
                // Duchi, Hazan & Singer 2011, diagonal AdaGrad on the L2-regularised gradient
                // g' = g + λ w:  n ← n + g'²;  w ← w − η g' / (√n + ε).
                let eta = option("learning_rate", 0.1), epsilon = option("epsilon", 1e-8), lambda = option("l2", 0)
                let gPrime = g + lambda * c.w
                c.n = c.n + gPrime * gPrime
                c.w = c.w - eta * gPrime / (c.n.squareRoot() + epsilon)
            case "ftrl":
                // McMahan et al. 2013, "Ad Click Prediction: a View from the Trenches", Algorithm 1
                // (FTRL-Proximal, per coordinate i):
                //   σ_i = (√(n_i + g_i²) − √n_i) / α;  z_i ← z_i + g_i − σ_i w_i;  n_i ← n_i + g_i²
                //   w_i = 0 if |z_i| ≤ λ1, else −(z_i − sgn(z_i) λ1) / ((β + √n_i) / α + λ2)
                // z_i moves by g_i − σ_i w_i, the gradient of the linearised loss plus the proximal
                // term, which is summed first (as the servers do) so that the results compare exactly.
                let alpha = option("alpha", 0.1), beta = option("beta", 1)
                let lambda1 = option("l1", 1), lambda2 = option("l2", 0)
                let sigma = ((c.n + g * g).squareRoot() - c.n.squareRoot()) / alpha
                c.z = c.z + (g - sigma * c.w)
                c.n = c.n + g * g
                if abs(c.z) <= lambda1 {
                    c.w = 0
                } else {
                    let sgnZ: Float = c.z < 0 ? -1 : 1
                    c.w = -(c.z - sgnZ * lambda1) / ((beta + c.n.squareRoot()) / alpha + lambda2)
                }
            default:
                fatalError("no reference formula for '\(name)'")
            }
        }
    }

    /// The rules the reference tests cover. The hyper-parameters are far from the defaults and of
    /// similar weight to the gradients, so that each of them changes the result: with λ2 = 0.75 the
    /// FTRL denominator moves by a fifth, λ1 = 0.6 both zeroes weights and shrinks the others.
    static let rules: [Rule] = [
        Rule(name: "assign", options: [:]),
        Rule(name: "add", options: [:]),
        Rule(name: "sgd", options: ["learning_rate": 0.35, "l2": 0.6]),
        Rule(name: "adagrad", options: ["learning_rate": 0.45, "epsilon": 0.125, "l2": 0.3]),
        Rule(name: "ftrl", options: ["alpha": 0.8, "beta": 0.7, "l1": 0.6, "l2": 0.75]),
    ]

    /// One push: strictly ascending keys and `valueLength` floats per key.
    struct Push {
        var keys: [UInt64]
        var values: [Float]
    }

    /// Keys relative to the start of a store's range, one list per push. Keys come back in later
    /// pushes (the state must carry over) and new keys arrive between known ones (a sorted store
    /// inserts them and must move the neighbours' state along).
    static let keyOffsets: [[UInt64]] = [
        [3, 10, 40],
        [3, 17, 40, 41],
        [0, 3, 10, 17, 63],
        [3, 10, 17, 40, 41, 63],
        [3, 40, 63],
        [0, 3, 10, 17, 40, 41],
    ]

    /// The pushes of the reference scenario for keys starting at `base`: every (push, key, component)
    /// gets its own gradient, of both signs and of magnitude 0.05 to 2.4.
    static func pushes(base: UInt64, valueLength: Int) -> [Push] {
        keyOffsets.enumerated().map { push, offsets in
            let values = offsets.flatMap { offset in
                (0..<valueLength).map { component -> Float in
                    let mixed = (push * 7 + Int(offset) * 3 + component * 5) % 13
                    return Float(mixed - 6) * 0.37 + Float(push + 1) * 0.05
                }
            }
            return Push(keys: offsets.map { base + $0 }, values: values)
        }
    }

    /// The value of every key the pushes touch after `rule` applied them in order (absent keys: 0).
    static func expectedValues(
        of pushes: [Push], valueLength: Int, rule: Rule, keys: [UInt64]
    ) -> [Float] {
        var coordinates: [UInt64: [Coordinate]] = [:]
        for push in pushes {
            for (index, key) in push.keys.enumerated() {
                var vector = coordinates[key] ?? Array(repeating: Coordinate(), count: valueLength)
                for component in 0..<valueLength {
                    rule.step(&vector[component], push.values[index * valueLength + component])
                }
                coordinates[key] = vector
            }
        }
        return keys.flatMap { key in (coordinates[key] ?? Array(repeating: Coordinate(), count: valueLength)).map(\.w) }
    }
}
