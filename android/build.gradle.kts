// FieldSync Android library (AAR): UniFFI-generated Kotlin + hand-written wrappers + the Rust
// library `libfieldsync_ffi.so` for arm64-v8a, armeabi-v7a and x86_64.
//
// Needs on the build machine (see README.md): the Android SDK + NDK (ANDROID_NDK_HOME or
// ndkVersion below), rustup with the Android targets, and cargo-ndk:
//   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
//   cargo install cargo-ndk
//
// Task graph: preBuild -> generateUniffiBindings -> cargoNdkBuild
//   cargoNdkBuild          cargo ndk ... build --profile release-small -p fieldsync-ffi
//                          (size-optimised, stripped: the published size) -> src/main/jniLibs/<abi>/
//   generateUniffiBindings uniffi-bindgen (host build) reads the arm64 .so -> build/generated/uniffi/
//                          (bindings/uniffi.toml + the Android overrides in uniffi-android.toml)
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

/** The Cargo workspace root: this module's parent directory (also when an app's build
 * includes the module, where `rootDir` is the app's). */
val rustWorkspace: File = projectDir.parentFile
val generatedKotlinDir: Provider<Directory> = layout.buildDirectory.dir("generated/uniffi/kotlin")
val jniLibsDir: File = file("src/main/jniLibs")
val cargo: String = providers.environmentVariable("CARGO").getOrElse("cargo")

android {
    namespace = "org.fieldsync"
    compileSdk = 35
    // The NDK cargo-ndk links with (ANDROID_NDK_HOME wins if set).
    ndkVersion = "27.2.12479018"

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets {
        getByName("main") {
            // src/main/kotlin: plain Kotlin wrappers (also compiled on the JVM by
            // scripts/kotlin-test.sh); src/main/kotlin-android: android.* helpers;
            // build/generated/uniffi/kotlin: the UniFFI bindings (not checked in).
            java.srcDirs("src/main/kotlin", "src/main/kotlin-android", generatedKotlinDir)
            jniLibs.srcDirs(jniLibsDir)
        }
        getByName("test") {
            java.srcDirs("src/test/kotlin")
        }
    }

    testOptions {
        unitTests.all { test ->
            // Local (JVM) unit tests load the *host* library, built with
            // `cargo build -p fieldsync-ffi` (target/debug/libfieldsync_ffi.so / .dylib).
            test.systemProperty("jna.library.path", rustWorkspace.resolve("target/debug").absolutePath)
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    // JNA as AAR: the plain jar has no Android libjnidispatch.so.
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
    // @RequiresApi in the generated code (android = true in uniffi-android.toml)
    implementation("androidx.annotation:annotation:1.9.1")

    // JVM unit tests run on the desktop JVM: they need the jar (with desktop libjnidispatch).
    testImplementation("net.java.dev.jna:jna:5.14.0")
    testImplementation("junit:junit:4.13.2")
    testImplementation(kotlin("test-junit"))
    testImplementation("org.jetbrains.kotlinx:kotlinx-coroutines-test:1.9.0")
}

// --- Rust ---------------------------------------------------------------------------------------

val cargoNdkBuild by tasks.registering(Exec::class) {
    group = "rust"
    description = "Builds libfieldsync_ffi.so for arm64-v8a, armeabi-v7a, x86_64 with cargo-ndk"
    workingDir = projectDir // inside the Cargo workspace; -o is relative to this directory
    // Point cargo-ndk at the NDK of `ndkVersion` unless the environment already names one.
    // (Resolved when the task runs, so configuring the project never needs an NDK.)
    doFirst {
        if (System.getenv("ANDROID_NDK_HOME") == null) {
            environment("ANDROID_NDK_HOME", android.ndkDirectory.absolutePath)
        }
    }
    // 16 KB page alignment of the 64-bit .so files (required by Google Play for Android 15+
    // targets; NDK r28+ does it by default, r27 needs the flag). Ignored when RUSTFLAGS is set.
    val pageSize16k = "-C link-arg=-Wl,-z,max-page-size=16384"
    environment("CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS", pageSize16k)
    environment("CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS", pageSize16k)
    commandLine(
        cargo, "ndk",
        "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "-o", "src/main/jniLibs",
        "build", "--profile", "release-small", "--ignore-rust-version", "-p", "fieldsync-ffi",
    )
    // Every Rust source the library is built from, the vendored p2panda-core included (a
    // stale .so must not ship).
    inputs.files(fileTree(rustWorkspace) {
        include(
            "Cargo.toml", "Cargo.lock", "*/Cargo.toml", "*/src/**/*.rs", "bindings/uniffi.toml",
            "vendor/**/Cargo.toml", "vendor/**/*.rs",
        )
        exclude("target/**", "android/**", "ios/**")
    })
    outputs.dir(jniLibsDir)
}

val generateUniffiBindings by tasks.registering(Exec::class) {
    group = "rust"
    description = "Generates the Kotlin bindings (package org.fieldsync) from the built library"
    dependsOn(cargoNdkBuild)
    // Library mode reads the UniFFI metadata from any built copy of the library (the arm64 .so
    // here); uniffi-bindgen itself runs on the host. It finds bindings/uniffi.toml through
    // `cargo metadata`, so it runs in the workspace.
    workingDir = rustWorkspace
    val library = jniLibsDir.resolve("arm64-v8a/libfieldsync_ffi.so")
    val outDir = generatedKotlinDir.get().asFile
    doFirst { delete(outDir) }
    commandLine(
        cargo, "run", "--ignore-rust-version", "-p", "fieldsync-ffi", "--bin", "uniffi-bindgen", "--",
        "generate", "--library", library.absolutePath,
        "--language", "kotlin", "--out-dir", outDir.absolutePath,
        "--no-format", "--metadata-no-deps",
        // Android-only overrides (android = true: SystemCleaner) on top of bindings/uniffi.toml
        "--config", file("uniffi-android.toml").absolutePath,
    )
    inputs.file(library)
    inputs.file(rustWorkspace.resolve("bindings/uniffi.toml"))
    inputs.file("uniffi-android.toml")
    outputs.dir(outDir)
}

tasks.named("preBuild") { dependsOn(generateUniffiBindings) }

tasks.named<Delete>("clean") { delete(jniLibsDir) }
