// FieldSync Android library (AAR): UniFFI-generated Kotlin + hand-written wrappers + the Rust
// library `libfieldsync_ffi.so` for arm64-v8a, armeabi-v7a and x86_64.
//
// Needs on the build machine (see README.md): the Android SDK + NDK (ANDROID_NDK_HOME or
// ndkVersion below), rustup with the Android targets, and cargo-ndk:
//   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
//   cargo install cargo-ndk
// Apps that consume the published AAR need none of this (no Rust toolchain, no NDK).
//
// Task graph: preBuild -> generateUniffiBindings -> cargoNdkBuild
//   cargoNdkBuild          cargo ndk ... build --profile release-small -p fieldsync-ffi
//                          (size-optimised, stripped: the published size) -> src/main/jniLibs/<abi>/
//   generateUniffiBindings uniffi-bindgen (host build) reads the arm64 .so -> build/generated/uniffi/
//                          (bindings/uniffi.toml + the Android overrides in uniffi-android.toml)
//
// Publishing (maven-publish; `make release` runs it through scripts/release.sh):
//   publishReleasePublicationToLocalReleaseRepository [-PfieldsyncRepo=<dir>]
//     org.fieldsync:fieldsync-android:<version> (AAR + sources + javadoc jars, POM, Gradle module
//     metadata) into <dir>; default <workspace>/build/maven, a relative <dir> is taken from the
//     workspace root. <version> is `[workspace.package] version` of the workspace Cargo.toml.
//   publishToMavenLocal   the same into ~/.m2 (for an app using mavenLocal())
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
    `maven-publish`
}

/** The Cargo workspace root: this module's parent directory (also when an app's build
 * includes the module, where `rootDir` is the app's). */
val rustWorkspace: File = projectDir.parentFile
val generatedKotlinDir: Provider<Directory> = layout.buildDirectory.dir("generated/uniffi/kotlin")
val jniLibsDir: File = file("src/main/jniLibs")
val cargo: String = providers.environmentVariable("CARGO").getOrElse("cargo")

/** `version` of `[workspace.package]` in the workspace Cargo.toml: the one version of the Rust
 * crates, the AAR and the Swift package. Read when the project is configured. */
val workspaceVersion: String = run {
    val manifest = rustWorkspace.resolve("Cargo.toml")
    if (!manifest.isFile) {
        throw GradleException("FieldSync: $manifest not found; android/ must stay inside the Cargo workspace")
    }
    var inWorkspacePackage = false
    var found: String? = null
    for (raw in manifest.readLines()) {
        val line = raw.trim()
        if (line.startsWith("[")) {
            inWorkspacePackage = line.substringBefore('#').trim() == "[workspace.package]"
        } else if (inWorkspacePackage) {
            Regex("""^version\s*=\s*"([^"]+)"""").find(line)?.let { found = it.groupValues[1] }
        }
        if (found != null) break
    }
    found ?: throw GradleException(
        "FieldSync: no `version = \"...\"` under [workspace.package] in $manifest: " +
            "the published version of the AAR is read from there",
    )
}

group = "org.fieldsync"
version = workspaceVersion

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

    // The `release` software component that the `release` publication below publishes: the AAR
    // with a sources jar and a javadoc jar (Dokka, bundled with AGP).
    publishing {
        singleVariant("release") {
            withSourcesJar()
            withJavadocJar()
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

// In the POM: `implementation` -> <scope>runtime</scope>, `api` -> <scope>compile</scope> (which
// Maven also puts on the runtime classpath). Apps get all three transitively.
dependencies {
    // JNA as AAR: the plain jar has no Android libjnidispatch.so. The POM must keep
    // <type>aar</type> (see pom.withXml below), or apps would resolve the jar.
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    // api: Flow is part of the public API (Node.events(), Document.changes(), asFlow()).
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
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
    // Readable error messages (the same fix as every other copy of the Kotlin bindings).
    doLast {
        project.exec {
            commandLine(
                "perl", rustWorkspace.resolve("scripts/kotlin-postprocess.pl").absolutePath,
                outDir.resolve("org/fieldsync/fieldsync_ffi.kt").absolutePath,
            )
        }
    }
    inputs.file(library)
    inputs.file(rustWorkspace.resolve("bindings/uniffi.toml"))
    inputs.file("uniffi-android.toml")
    inputs.file(rustWorkspace.resolve("scripts/kotlin-postprocess.pl"))
    outputs.dir(outDir)
}

tasks.named("preBuild") { dependsOn(generateUniffiBindings) }

tasks.named<Delete>("clean") { delete(jniLibsDir) }

// The sources and javadoc jars read build/generated/uniffi/kotlin too, which only preBuild is
// wired to; without this they would run before (or without) the bindings exist.
tasks.matching { it.name == "sourceReleaseJar" || it.name == "javaDocReleaseGeneration" }
    .configureEach { dependsOn(generateUniffiBindings) }

// --- Publishing -----------------------------------------------------------------------------------

val repositoryUrl = "https://github.com/fieldsync/fieldsync" // Cargo.toml `repository`

publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = "org.fieldsync"
            artifactId = "fieldsync-android"
            version = workspaceVersion
            // AGP creates the component late in configuration.
            afterEvaluate { from(components["release"]) }

            pom {
                name.set("FieldSync for Android")
                description.set(
                    "Local-first sync of documents between devices, peer to peer: Kotlin API and " +
                        "the native FieldSync library (arm64-v8a, armeabi-v7a, x86_64).",
                )
                url.set(repositoryUrl)
                // Cargo.toml: license = "MIT OR Apache-2.0" (either, at the user's choice)
                licenses {
                    license {
                        name.set("MIT License")
                        url.set("https://opensource.org/licenses/MIT")
                        distribution.set("repo")
                    }
                    license {
                        name.set("Apache License, Version 2.0")
                        url.set("https://www.apache.org/licenses/LICENSE-2.0.txt")
                        distribution.set("repo")
                    }
                }
                scm {
                    url.set(repositoryUrl)
                    connection.set("scm:git:$repositoryUrl.git")
                    developerConnection.set("scm:git:ssh://git@github.com/fieldsync/fieldsync.git")
                }
                // Gradle writes <type>aar</type> for the `@aar` notation; make sure of it, since a
                // Maven or Gradle (POM-only) consumer would otherwise get JNA's desktop jar, which
                // has no Android libjnidispatch.so.
                withXml {
                    val root = asElement()
                    fun org.w3c.dom.Element.children(tag: String): List<org.w3c.dom.Element> =
                        (0 until childNodes.length).map { childNodes.item(it) }
                            .filterIsInstance<org.w3c.dom.Element>()
                            .filter { (it.localName ?: it.tagName) == tag }
                    val jna = root.children("dependencies").flatMap { it.children("dependency") }
                        .filter { dep ->
                            dep.children("groupId").firstOrNull()?.textContent?.trim() == "net.java.dev.jna" &&
                                dep.children("artifactId").firstOrNull()?.textContent?.trim() == "jna"
                        }
                    if (jna.isEmpty()) throw GradleException("FieldSync: JNA missing from the POM's dependencies")
                    for (dep in jna) {
                        val type = dep.children("type").firstOrNull()
                            ?: root.ownerDocument.run {
                                // in the POM's namespace (else a serializer may write xmlns="")
                                root.namespaceURI?.let { createElementNS(it, "type") } ?: createElement("type")
                            }.also { dep.appendChild(it) }
                        type.textContent = "aar"
                    }
                }
            }
        }
    }
    repositories {
        // -PfieldsyncRepo=<dir> (scripts/release.sh: build/release/maven); relative to the workspace.
        maven {
            name = "localRelease"
            url = uri(rustWorkspace.resolve(providers.gradleProperty("fieldsyncRepo").getOrElse("build/maven")))
        }
    }
}
