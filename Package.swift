// swift-tools-version:5.10
//
// FieldSync Swift package. It sits at the repository root so that Xcode / SwiftPM can add it by
// URL (`https://github.com/fieldsync/fieldsync`, from the version tag); its sources are in ios/.
//
//   FieldSync     Swift module: the generated bindings, committed
//                 (ios/Sources/FieldSync/Generated/FieldSync.swift, written by `make bindings`
//                 and checked by `make test`), plus the hand-written Swift in ios/Sources/FieldSync.
//   FieldSyncFFI  C module with the Rust library. Where it comes from is chosen by one setting,
//                 the environment variable FIELDSYNC_FFI when the package is resolved:
//                   release  (default on Apple platforms) the XCFramework of the release, by URL
//                            and checksum; `make release` (scripts/release.sh) writes both below.
//                   local    ios/FieldSyncFFI.xcframework built on this Mac by
//                            ios/build-xcframework.sh (development: `FIELDSYNC_FFI=local xed .`
//                            or `FIELDSYNC_FFI=local swift build`).
//                   system   (default on Linux) a systemLibrary over ios/Sources/FieldSyncFFI:
//                            the committed header + modulemap, linking libfieldsync_ffi.so (the
//                            CI's Swift tests, scripts/swift-test.sh).
//
// App developers add the package by URL and need no Rust toolchain.
import PackageDescription

let releaseURL = "https://github.com/fieldsync/fieldsync/releases/download/v0.1.0/FieldSyncFFI.xcframework.zip"
let releaseChecksum = "0000000000000000000000000000000000000000000000000000000000000000"

#if os(Linux)
let defaultFFI = "system"
#else
let defaultFFI = "release"
#endif

let ffiTarget: Target
switch Context.environment["FIELDSYNC_FFI"] ?? defaultFFI {
case "local":
    ffiTarget = .binaryTarget(name: "FieldSyncFFI", path: "ios/FieldSyncFFI.xcframework")
case "system":
    ffiTarget = .systemLibrary(name: "FieldSyncFFI", path: "ios/Sources/FieldSyncFFI")
default:
    ffiTarget = .binaryTarget(name: "FieldSyncFFI", url: releaseURL, checksum: releaseChecksum)
}

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
            path: "ios/Sources/FieldSync",
            resources: [.copy("PrivacyInfo.xcprivacy")],
            linkerSettings: [
                // The Rust static library uses these system frameworks on Apple platforms
                // (network interface / reachability monitoring, TLS trust).
                .linkedFramework("SystemConfiguration", .when(platforms: [.iOS, .macOS])),
                .linkedFramework("Security", .when(platforms: [.iOS, .macOS])),
            ]
        ),
        // The survey sample (not a product: apps never build it); run by the tests.
        .target(
            name: "SurveySample",
            dependencies: ["FieldSync"],
            path: "ios/Samples/Survey"
        ),
        .testTarget(
            name: "FieldSyncTests",
            dependencies: ["FieldSync", "SurveySample"],
            path: "ios/Tests/FieldSyncTests"
        ),
    ]
)
