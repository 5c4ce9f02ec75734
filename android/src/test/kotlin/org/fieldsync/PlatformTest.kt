// What a mobile app relies on beyond the API itself: no call blocks the caller's thread,
// connectivity changes rebind the network, a sync status stream for the UI.
package org.fieldsync

import java.nio.file.Files
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.async
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test

class PlatformTest {
    private val dirs = mutableListOf<java.io.File>()

    private fun tempDir(): String {
        val d = Files.createTempDirectory("fieldsync-kt-platform").toFile()
        dirs.add(d)
        return d.absolutePath
    }

    @After
    fun cleanUp() {
        dirs.forEach { it.deleteRecursively() }
    }

    private val loopback = NetworkOptions(bindIp = "127.0.0.1")

    private fun port(info: NetworkInfo): Int =
        info.addresses.first { it.startsWith("127.0.0.1:") }.substringAfterLast(':').toInt()

    private suspend fun awaitTrue(what: String, timeoutMs: Long = 30_000, check: suspend () -> Boolean) {
        val deadline = System.currentTimeMillis() + timeoutMs
        while (!check()) {
            if (System.currentTimeMillis() > deadline) throw AssertionError("timed out: $what")
            delay(10)
        }
    }

    /**
     * Every public call made on a "main" thread (one-thread dispatcher, like Android's) while a
     * 10,000-operation document opens returns control within a few ms: the work runs on the
     * SDK's threads. Each call is started UNDISPATCHED, so the time until `async` returns is
     * exactly how long the call held the calling thread.
     */
    @Test
    fun noCallBlocksTheCallingThreadWhileA10kOpDocumentOpens(): Unit = runBlocking {
        val dir = tempDir()
        val tBuild = System.nanoTime()
        val docId = Node.open(dir).use { node ->
            val doc = node.createDocument()
            val list = doc.list("readings")
            repeat(10_000) { list.push(Value.Int(it.toLong())) }
            assertEquals(10_000uL, doc.opCount())
            node.shutdown()
            doc.id()
        }
        println("built a 10,000-op document in ${(System.nanoTime() - tBuild) / 1_000_000} ms")

        val main = Executors.newSingleThreadExecutor { r -> Thread(r, "main") }.asCoroutineDispatcher()
        try {
            withContext(main) {
                val held = mutableListOf<Pair<String, Long>>()
                suspend fun <T> timed(name: String, scope: kotlinx.coroutines.CoroutineScope, call: suspend () -> T): Deferred<T> {
                    val t0 = System.nanoTime()
                    val d = scope.async(start = CoroutineStart.UNDISPATCHED) { call() }
                    held.add(name to (System.nanoTime() - t0) / 1_000)
                    return d
                }
                val tOpen = System.nanoTime()
                val node = timed("Node.open", this) { Node.open(dir) }.await()
                node.use {
                    coroutineScope {
                        // Warm up every FFI entry point once (JNA binds natives lazily).
                        node.documentIds()
                        held.clear()
                        val doc = timed("openDocument", this) { node.openDocument(docId) }.await()
                        val opened = timed("toJson (loads 10k ops)", this) { doc.toJson() }
                        val others = listOf(
                            timed("documentIds", this) { node.documentIds() },
                            timed("list.len", this) { doc.list("readings").len() },
                            timed("list.push", this) { doc.list("readings").push(Value.Int(-1)) },
                            timed("createDocument", this) { node.createDocument() },
                            timed("keyBundle", this) { node.keyBundle() },
                            timed("pendingOps", this) { node.pendingOps() },
                            timed("version", this) { doc.version() },
                            timed("syncStatus", this) { doc.syncStatus() },
                            timed("flush", this) { node.flush() },
                        )
                        val json = opened.await()
                        others.awaitAll()
                        val loadMs = (System.nanoTime() - tOpen) / 1_000_000
                        assertTrue(json.length > 40_000)
                        val worst = held.maxByOrNull { it.second }!!
                        println(
                            "opened and read the 10k-op document in $loadMs ms; calling thread held " +
                                held.joinToString { "${it.first} ${it.second} us" }
                        )
                        // "A few ms": the synchronous part is creating and polling a Rust future.
                        assertTrue("${worst.first} held the calling thread ${worst.second} us", worst.second < 20_000)
                    }
                    node.shutdown()
                }
            }
        } finally {
            main.close()
        }
    }

    /**
     * The network-change API: A moves to another port (as after Wi-Fi to mobile data); B, who
     * still has A's old address, has A's next edit within 2 s of the call, and A has B's.
     */
    @Test
    fun networkChangedRebindsAndThePeerReachesTheNodeAgainWithin2s(): Unit = runBlocking {
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val doc = a.createDocument()
                doc.text("t").push("before")
                doc.addMember(b.keyBundle())
                val infoA = a.startNetwork(loopback)
                val infoB = b.startNetwork(loopback)
                a.addPeer(PeerAddress(nodeId = b.authorId(), addresses = infoB.addresses))
                val docB = b.join(doc.invite())
                awaitTrue("B catches up") { docB.toJson() == doc.toJson() }

                val oldPort = port(infoA)
                var newPort: Int
                do {
                    newPort = java.net.DatagramSocket(0, java.net.InetAddress.getByName("127.0.0.1")).use { it.localPort }
                } while (newPort == oldPort)
                val moved = a.networkChanged(NetworkOptions(bindIp = "127.0.0.1", port = newPort.toUShort()))
                assertEquals(newPort, port(assertNotNullAndGet(moved)))
                val t0 = System.nanoTime()
                doc.text("t").push(" after A")
                docB.text("t").push(" after B")
                awaitTrue("both edits on both nodes", timeoutMs = 2_000) {
                    val (ja, jb) = doc.toJson() to docB.toJson()
                    ja == jb && ja.contains("after A") && ja.contains("after B")
                }
                println("after networkChanged both edits were on both nodes in ${(System.nanoTime() - t0) / 1_000_000} ms")
                a.stopNetwork()
                assertEquals(null, a.networkChanged())
                a.shutdown()
                b.shutdown()
            }
        }
    }

    private fun <T> assertNotNullAndGet(v: T?): T {
        assertNotNull(v)
        return v!!
    }

    /** The UI's status line: pending edits while offline, online once the network runs. */
    @Test
    fun syncStatusFlowReportsPendingEditsAndTheNetwork(): Unit = runBlocking {
        Node.open(tempDir()).use { node ->
            val doc = node.createDocument()
            doc.text("t").push("offline edit")
            withTimeout(10_000) {
                val first = doc.syncStatusFlow().first()
                assertFalse(first.online)
                assertTrue(first.pendingLocalOps > 0uL)
                assertEquals(null, first.lastSyncMs)
                val two = async { doc.syncStatusFlow().take(2).toList() }
                delay(100)
                node.startNetwork(loopback)
                val (before, after) = two.await()
                assertFalse(before.online)
                assertTrue(after.online)
                assertEquals(doc.id(), after.document)
            }
            node.shutdown()
        }
    }

    /** Bursts of connectivity reports make one rebind; the first network and `null` none. */
    @Test
    fun networkChangeForwarderCoalescesReports(): Unit = runBlocking {
        val rebinds = AtomicInteger()
        coroutineScope {
            val forwarder = NetworkChangeForwarder(this, settleMillis = 50) { rebinds.incrementAndGet() }
            forwarder.onNetwork("wifi 192.168.1.20")      // the network the node started on
            delay(150)
            assertEquals(0, rebinds.get())
            forwarder.onNetwork(null)                     // lost
            forwarder.onNetwork("cell 10.0.0.7")          // burst: available ...
            forwarder.onNetwork("cell 10.0.0.7 fe80::1")  // ... link properties
            forwarder.onNetwork("cell 10.0.0.7 fe80::1")  // repeated report
            awaitTrue("one rebind after the burst", 5_000) { rebinds.get() == 1 }
            delay(150)
            assertEquals(1, rebinds.get())
            forwarder.onNetwork(null)
            forwarder.onNetwork("cell 10.0.0.7 fe80::1")  // the same network after sleep
            awaitTrue("a rebind when it comes back", 5_000) { rebinds.get() == 2 }
        }
        assertNotEquals(0, rebinds.get())
    }
}
