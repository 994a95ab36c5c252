// swift-tools-version:6.0
import PackageDescription

/// The CPU level release builds target on x86-64 (see `requestPathSettings`).
#if arch(x86_64)
let cpuLevel = ["-target-cpu", "nehalem"]
#else
let cpuLevel: [String] = []
#endif

/// Release builds of the libraries on the request path leave out the run-time exclusivity checks of
/// class properties and globals: a few percent of each request's CPU. Debug builds, which the tests
/// use, keep them.
///
/// On x86-64 they also target Nehalem's instruction set (SSE4.2 and POPCNT, on every x86-64 server
/// CPU since 2011): bit counts, which the key indexers and change bitmaps run per key, are then one
/// `popcnt` instead of a dozen instructions.
let requestPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"] + cpuLevel, .when(configuration: .release)),
]

let package = Package(
    name: "zps",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
        .library(name: "ParameterServer", targets: ["ParameterServer"]),
        .library(name: "SparseLR", targets: ["SparseLR"]),
        .executable(name: "zps", targets: ["zps"]),
        .executable(name: "zps-bench", targets: ["zps-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // System libraries: a module map and a shim header each, nothing else.
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"]), .brew(["zeromq"])]),
        .systemLibrary(
            name: "CSnappy", pkgConfig: "snappy",
            providers: [.apt(["libsnappy-dev"]), .brew(["snappy"])]),
        .systemLibrary(
            name: "CMsgPack", pkgConfig: "msgpack",
            providers: [.apt(["libmsgpack-dev"]), .brew(["msgpack"])]),
        // The C library's allocator settings and CPU affinity (malloc.h, sched.h), part of libc.
        .systemLibrary(name: "CSystem"),

        // A small, safe Swift layer over libzmq, reusable on its own.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: requestPathSettings),

        // The parameter-server library: wire, transport, engine, filters, storage, membership, roles, topology.
        .target(
            name: "ParameterServer",
            dependencies: [
                "ZeroMQ", "CMsgPack", "CSnappy", "CSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: requestPathSettings),

        // The click-prediction application.
        .target(
            name: "SparseLR",
            dependencies: [
                "ParameterServer",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: requestPathSettings),

        .executableTarget(
            name: "zps",
            dependencies: [
                "ParameterServer", "SparseLR",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "zps-bench",
            dependencies: [
                "ParameterServer", "ZeroMQ", "SparseLR",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/Sources/zps-bench"),

        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(
            name: "ParameterServerTests",
            dependencies: [
                "ParameterServer", "ZeroMQ",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(name: "SparseLRTests", dependencies: ["SparseLR", "ParameterServer"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ParameterServer", "ZeroMQ", "SparseLR", .product(name: "Yams", package: "Yams")]),
    ]
)

// libFuzzer targets (Fuzz/Sources), declared only for a build that asks for them: `make fuzz` sets
// ZPS_FUZZ=1 and builds with `--sanitize fuzzer` under .build/fuzz, so the normal build and the
// tests never compile them.
if Context.environment["ZPS_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["ZeroMQ"], path: "Fuzz/Sources/FuzzSupport"))
    for name in ["FuzzHeaderCodec", "FuzzMessage", "FuzzNodeTable", "FuzzKeyCache", "FuzzSnappy", "FuzzTopology", "FuzzServerMachine"] {
        package.targets.append(.executableTarget(
            name: name,
            dependencies: ["FuzzSupport", "ParameterServer", "ZeroMQ", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/Sources/\(name)"))
    }
}
