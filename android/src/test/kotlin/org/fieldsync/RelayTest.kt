// Relay servers through the Kotlin API (issue #31): the configuration round-trips, bad values
// are refused with InvalidArgument, and two nodes sync with only a relay address for each
// other (a `fieldsync relay` on 127.0.0.1, the CLI named by FIELDSYNC_CLI).
package org.fieldsync

import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Test
import kotlin.test.assertFailsWith

class RelayTest {
    private val dirs = mutableListOf<java.io.File>()
    private val processes = mutableListOf<Process>()

    private fun tempDir(): String {
        val d = Files.createTempDirectory("fieldsync-kt-relay").toFile()
        dirs.add(d)
        return d.absolutePath
    }

    @After
    fun cleanUp() {
        processes.forEach { it.destroyForcibly().waitFor(10, TimeUnit.SECONDS) }
        dirs.forEach { it.deleteRecursively() }
    }

    /** Starts `fieldsync relay --open` on 127.0.0.1; returns its URL. */
    private fun startRelay(): String {
        val cli = System.getenv("FIELDSYNC_CLI") ?: throw AssertionError("FIELDSYNC_CLI is not set")
        val p = ProcessBuilder(cli, "--data", tempDir(), "--json", "relay", "--http", "127.0.0.1:0", "--open")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        processes.add(p)
        val line = p.inputStream.bufferedReader().readLine() ?: throw AssertionError("the relay printed nothing")
        return Regex("\"url\":\"([^\"]+)\"").find(line)?.groupValues?.get(1)
            ?: throw AssertionError("no url in $line")
    }

    private suspend fun awaitTrue(what: String, timeoutMs: Long = 60_000, check: suspend () -> Boolean) {
        val deadline = System.currentTimeMillis() + timeoutMs
        while (!check()) {
            if (System.currentTimeMillis() > deadline) throw AssertionError("timed out: $what")
            delay(20)
        }
    }

    @Test
    fun relayConfigurationRoundTripsAndBadValuesAreRefused() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val url = startRelay()
            val options = NetworkOptions(
                bindIp = "127.0.0.1",
                relays = listOf(RelayServer(url = url, token = "org-token-0123456789")),
            )
            assertEquals(url, node.startNetwork(options).relay)
            assertEquals(url, node.networkInfo().relay)
            node.stopNetwork()
            for (bad in listOf(
                RelayServer(url = "ftp://127.0.0.1:1", token = null),
                RelayServer(url = "not a url", token = null),
                RelayServer(url = url, token = "has a space"),
                RelayServer(url = "", token = null),
            )) {
                assertFailsWith<FieldSyncException.InvalidArgument>(bad.toString()) {
                    node.startNetwork(NetworkOptions(bindIp = "127.0.0.1", relays = listOf(bad)))
                }
            }
            assertFailsWith<FieldSyncException.InvalidArgument> {
                node.addPeer(PeerAddress(nodeId = node.authorId(), addresses = listOf(), relay = "nope"))
            }
            node.shutdown()
        }
    }

    @Test
    fun twoNodesSyncKnowingEachOtherOnlyByTheRelay() = runBlocking<Unit> {
        val url = startRelay()
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val options = NetworkOptions(bindIp = "127.0.0.1", relays = listOf(RelayServer(url = url)))
                val doc = a.createDocument()
                doc.text("notes").push("well 3: dry")
                doc.addMember(b.keyBundle())
                a.startNetwork(options)
                b.startNetwork(options)
                val docB = b.registerDocument(doc.id())
                // No socket address: B reaches A through the relay.
                b.addPeer(PeerAddress(nodeId = a.authorId(), addresses = listOf(), relay = url))
                awaitTrue("B catches up through the relay") { docB.toJson() == doc.toJson() }
                docB.text("notes").push(" / checked")
                awaitTrue("A gets B's edit") { doc.toJson() == docB.toJson() }
                // The path is recorded when a catch-up session ends, which may be after the
                // edits arrived (they can come by a live push first).
                awaitTrue("B records the path its session with A took") {
                    docB.syncStatus().peers.firstOrNull { it.peer == a.authorId() }?.relayed != null
                }
                val peer = docB.syncStatus().peers.first { it.peer == a.authorId() }
                println("path B -> A: relayed=${peer.relayed} rtt=${peer.rttMs} ms")
                a.shutdown()
                b.shutdown()
            }
        }
    }
}
