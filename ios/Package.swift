// swift-tools-version:5.10
//
// FieldSync Swift package.
//
//   FieldSyncFFI  C module: the generated header FieldSyncFFI.h + module.modulemap, and the Rust
//                 library itself.
//                 Apple platforms: binary target FieldSyncFFI.xcframework (static libraries for
//                 iOS device, iOS simulator and macOS), built by ./build-xcframework.sh.
//                 Linux (CI tests): a systemLibrary target over Sources/FieldSyncFFI (header +
//                 modulemap with `link "fieldsync_ffi"`), staged by scripts/swift-test.sh, linking
//                 the host-built libfieldsync_ffi.so.
//   FieldSync     Swift module: the generated bindings (Sources/FieldSync/Generated/FieldSync.swift,
//                 written by ./build-xcframework.sh or scripts/swift-test.sh, not checked in) plus the
//                 hand-written Sources/FieldSync/AsyncSequence.swift.
//
// Apple users: run `./build-xcframework.sh` on a Mac (Xcode + rustup) before building the
// package. For distribution, replace the `path:` binary target with
// `.binaryTarget(name: "FieldSyncFFI", url: "<release zip>", checksum: "<swift package compute-checksum>")`.
import PackageDescription

#if os(Linux)
let ffiTarget: Target = .systemLibrary(name: "FieldSyncFFI", path: "Sources/FieldSyncFFI")
#else
let ffiTarget: Target = .binaryTarget(name: "FieldSyncFFI", path: "FieldSyncFFI.xcframework")
#endif

let package = Package(
    name: "FieldSync",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "FieldSync", targets: ["FieldSync"]),
    ],
    targets: [
        ffiTarget,
        .target(
            name: "FieldSync",
            dependencies: ["FieldSyncFFI"],
            path: "Sources/FieldSync",
            resources: [.copy("PrivacyInfo.xcprivacy")],
            linkerSettings: [
                // The Rust static library uses these system frameworks on Apple platforms
                // (network interface / reachability monitoring, TLS trust). Harmless if unused.
                .linkedFramework("SystemConfiguration", .when(platforms: [.iOS, .macOS])),
                .linkedFramework("Security", .when(platforms: [.iOS, .macOS])),
            ]
        ),
        .testTarget(
            name: "FieldSyncTests",
            dependencies: ["FieldSync"],
            path: "Tests/FieldSyncTests"
        ),
    ]
)
