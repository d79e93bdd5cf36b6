// swift-tools-version:6.2
import PackageDescription

// Every target keeps frame pointers: the C frame-pointer walker is how goroutine dumps, the heap sampler
// and the CPU profiler capture stacks (DESIGN.md rule 4).
let framePointersSwift: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-omit-frame-pointer"])]
let framePointersC: [CSetting] = [.unsafeFlags(["-fno-omit-frame-pointer"])]

let package = Package(
    name: "Goroutines",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Goroutines", targets: ["Goroutines"]),
        .library(name: "Profiling", targets: ["Profiling"]),
        .library(name: "DebugServer", targets: ["DebugServer"]),
        .executable(name: "goroutines-demo", targets: ["GoroutinesDemo"]),
        .executable(name: "goroutines-bench", targets: ["GoroutinesBench"]),
        .executable(name: "profiling-bench", targets: ["ProfilingBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // C and assembly: the context switch and stack mapping.
        .target(name: "CStackSwitch", cSettings: framePointersC),
        // C that must be async-signal-safe or run inside malloc.
        .target(name: "CSampling", cSettings: framePointersC, linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // epoll, eventfd and accept4 for the debug server's socket loop (not in Swift's Glibc module).
        .target(name: "CDebugServerSupport", cSettings: framePointersC),
        .systemLibrary(name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),

        // PC -> Swift names, files, lines; image mappings with build ids. Below the runtime because fatal
        // dumps (deadlock, panic) print symbolized tracebacks.
        .target(name: "Symbolication", dependencies: ["CSampling"], swiftSettings: framePointersSwift),
        .target(
            name: "Goroutines",
            dependencies: ["CStackSwitch", "CSampling", "Symbolication"],
            // Generic hot paths (Channel<Element>, select) specialize in the caller's module only when
            // their bodies are available across modules.
            swiftSettings: framePointersSwift + [.unsafeFlags(["-cross-module-optimization"])]
        ),
        .target(
            name: "Profiling",
            dependencies: ["Goroutines", "Symbolication", "CSampling", "CZlib"],
            swiftSettings: framePointersSwift
        ),
        .target(
            name: "DebugServer",
            dependencies: [
                "Profiling", "Goroutines", "CNghttp2", "CDebugServerSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: framePointersSwift
        ),
        .executableTarget(
            name: "GoroutinesDemo",
            dependencies: [
                "Goroutines", "Profiling", "DebugServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: framePointersSwift
        ),
        // Profile-encoding benchmark beside its Go peer (Tests/GoPeers/profiling).
        .executableTarget(name: "ProfilingBench", dependencies: ["Profiling", "Symbolication"], swiftSettings: framePointersSwift),
        .executableTarget(
            name: "GoroutinesBench",
            dependencies: ["Goroutines", "Profiling", "DebugServer"],
            swiftSettings: framePointersSwift
        ),
        // Heap sampler overhead benchmark (malloc/free pairs, Swift allocation workload, sampling on vs off).
        .executableTarget(name: "HeapBench", dependencies: ["CSampling"], swiftSettings: framePointersSwift),
        // Serving benchmark server: 10,000 parked goroutines behind the debug server (scripts/bench-serving.sh).
        .executableTarget(
            name: "ServingBench",
            dependencies: ["Goroutines", "Profiling", "DebugServer"],
            path: "Tests/ServingBench",
            swiftSettings: framePointersSwift
        ),
        // CPU profiler overhead benchmark (the same CPU-bound work with profiling off and at 100 Hz).
        .executableTarget(name: "CPUProfileBench", dependencies: ["Profiling"], swiftSettings: framePointersSwift),
        // libFuzzer targets for the debug server's parsers (scripts/fuzz.sh); otherwise a replayer of saved inputs.
        .executableTarget(name: "DebugServerFuzz", dependencies: ["DebugServer"], path: "Tests/Fuzz/DebugServerFuzz",
                          swiftSettings: framePointersSwift),
        // Small programs the tests run as subprocesses (deadlocks, panics, stack overflow, schedtrace).
        .executableTarget(
            name: "GoroutinesScenarios",
            dependencies: ["Goroutines", "Profiling", "DebugServer"],
            path: "Tests/Scenarios",
            swiftSettings: framePointersSwift
        ),

        // Optimized code with known inlining for the frame-fidelity golden tests in ProfilingTests.
        .target(name: "InliningFixture", dependencies: ["Goroutines"], path: "Tests/InliningFixture",
                swiftSettings: framePointersSwift + [.unsafeFlags(["-O"])]),
        // README.md's Swift snippets, extracted and compiled (ReadmeSnippetsTests keeps them in sync).
        .target(name: "ReadmeSnippets", dependencies: ["Goroutines", "Profiling", "DebugServer"], path: "Tests/ReadmeSnippets",
                swiftSettings: [.unsafeFlags(["-suppress-warnings"])]),
        .testTarget(name: "ReadmeSnippetsTests", dependencies: ["ReadmeSnippets"]),

        .testTarget(name: "SymbolicationTests", dependencies: ["Symbolication"], swiftSettings: framePointersSwift),
        .testTarget(
            name: "GoroutinesTests",
            dependencies: ["Goroutines"],
            swiftSettings: framePointersSwift
        ),
        .testTarget(name: "ProfilingTests", dependencies: ["Profiling", "InliningFixture"], swiftSettings: framePointersSwift),
        // Go's own tests of goroutines, channels, select, sync, context and timers, ported (issue 15).
        .testTarget(name: "GoSemanticsTests", dependencies: ["Goroutines", "Profiling"], swiftSettings: framePointersSwift),
        .testTarget(
            name: "DebugServerTests",
            dependencies: ["DebugServer"],
            swiftSettings: framePointersSwift
        ),
    ]
)
