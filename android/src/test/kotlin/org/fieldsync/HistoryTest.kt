// JVM tests of history cost through the Kotlin bindings (issue #28): coalesced edits, a
// snapshot published and taken by a joiner over QUIC, compaction under a retention policy.
package org.fieldsync

import java.nio.file.Files
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Test

class HistoryTest {
    private val dirs = mutableListOf<java.io.File>()

    private fun tempDir(): String {
        val d = Files.createTempDirectory("fieldsync-history-").toFile()
        dirs.add(d)
        return d.absolutePath
    }

    @After
    fun cleanUp() {
        dirs.forEach { it.deleteRecursively() }
    }

    private suspend fun awaitEqual(what: String, check: suspend () -> Boolean) {
        val deadline = System.currentTimeMillis() + 30_000
        while (!check()) {
            if (System.currentTimeMillis() > deadline) throw AssertionError("timed out: $what")
            delay(50)
        }
    }

    /**
     * Edits in a coalescing window become one operation once flushed; a published snapshot
     * lets compaction prune what it covers; a device joining over QUIC converges.
     */
    @Test
    fun coalescedEditsSnapshotCompactionAndAJoin() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        val options = NodeOptions(
            coalesceWindowMs = 60_000u,
            publishSnapshotEvery = 0u,
            retention = Retention.KeepAll,
        )
        Node.open(tempDir(), options = options).use { a ->
            Node.open(tempDir()).use { b ->
                val doc = a.createDocument()
                val text = doc.text("t")
                repeat(200) { text.push("x") }
                assertEquals("200 edits in an open window: nothing signed", 0uL, doc.opCount())
                a.flush()
                assertEquals("one operation for the window", 1uL, doc.opCount())
                doc.addMember(b.keyBundle())
                assertEquals(0u, doc.publishSnapshot())
                text.push("y")
                a.flush()
                assertEquals("the covered operation is pruned", 1uL, doc.compact(Retention.KeepSinceSnapshot))
                a.reclaimSpace()
                a.startNetwork(loopback)
                b.startNetwork(loopback)
                val docB = b.join(doc.invite())
                awaitEqual("B joins by the snapshot") { docB.toJson() == doc.toJson() }
                assertEquals(201, docB.text("t").content().length)
                a.shutdown()
                b.shutdown()
            }
        }
    }
}
