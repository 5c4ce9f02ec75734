// JVM tests of sync without a network through the Kotlin bindings (issue #30): a bundle
// round trip with a tampered copy refused, QR-sized chunks read shuffled with duplicates,
// and two nodes syncing over a link implemented here in Kotlin (a pipe of coroutine
// channels): no QUIC, no sockets.
package org.fieldsync

import java.nio.file.Files
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.test.assertFailsWith

/** One end of an in-memory link: what one end sends, the other receives, in order. */
class PipeLink(
    private val inbox: Channel<ByteArray>,
    private val outbox: Channel<ByteArray>,
) : SyncLink {
    var sent = 0L
        private set

    override suspend fun send(bytes: ByteArray) {
        assertTrue("a send within the MTU", bytes.size <= mtu().toInt())
        sent += bytes.size
        outbox.send(bytes)
    }

    override suspend fun receive(): ByteArray? = inbox.receiveCatching().getOrNull()

    override fun mtu(): UInt = 1024u

    companion object {
        fun pair(): Pair<PipeLink, PipeLink> {
            val ab = Channel<ByteArray>(Channel.UNLIMITED)
            val ba = Channel<ByteArray>(Channel.UNLIMITED)
            return PipeLink(ba, ab) to PipeLink(ab, ba)
        }
    }
}

class OfflineTest {
    private val dirs = mutableListOf<java.io.File>()

    private fun tempDir(): String {
        val d = Files.createTempDirectory("fieldsync-offline-").toFile()
        dirs.add(d)
        return d.absolutePath
    }

    @After
    fun cleanUp() {
        dirs.forEach { it.deleteRecursively() }
    }

    @Test
    fun aBundleRoundTripWithNoNetworkAndATamperedCopyRefused() = runBlocking<Unit> {
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val doc = a.createDocument()
                doc.addMember(b.keyBundle())
                doc.text("notes").push("well 3: dry")
                val bundle = a.exportBundle(doc.id(), null)
                assertTrue(bundle.operations >= 3uL)
                val tampered = bundle.bytes.copyOf()
                tampered[tampered.size / 2] = (tampered[tampered.size / 2].toInt() xor 1).toByte()
                assertFailsWith<FieldSyncException.InvalidArgument> { b.importBundle(tampered) }
                assertTrue("nothing applied", b.documentIds().isEmpty())
                val imported = b.importBundle(bundle.bytes)
                assertEquals(doc.id(), imported.document)
                assertEquals(a.authorId(), imported.exporter)
                val docB = b.openDocument(doc.id())
                assertEquals(doc.toJson(), docB.toJson())
                // B answers with only what A lacks.
                docB.text("notes").push(" / checked")
                val reply = b.exportBundle(doc.id(), a.bundleRequest(doc.id()))
                assertEquals(1uL, reply.operations)
                a.importBundle(reply.bytes)
                assertEquals(docB.toJson(), doc.toJson())
                a.shutdown()
                b.shutdown()
            }
        }
    }

    @Test
    fun qrChunksReadShuffledWithDuplicatesMakeTheBundle() = runBlocking<Unit> {
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val doc = a.createDocument()
                doc.addMember(b.keyBundle())
                val text = doc.text("readings")
                for (i in 0 until 100) text.push("reading $i; ")
                val bundle = a.exportBundle(doc.id(), null)
                val chunks = bundleChunks(bundle.bytes, 2048u)
                assertTrue(chunks.size > 2)
                assertTrue(chunks.all { it.size <= 2048 })
                val order = (chunks + chunks.filterIndexed { i, _ -> i % 2 == 0 }).shuffled(java.util.Random(5))
                val assembler = BundleChunks()
                var whole: ByteArray? = null
                for (chunk in order) {
                    assembler.add(chunk)?.let { whole = it }
                }
                assertEquals(chunks.size.toUInt(), assembler.total())
                assertEquals(chunks.size.toUInt(), assembler.received())
                assertArrayEquals(bundle.bytes, whole)
                assertFailsWith<FieldSyncException.InvalidArgument> { BundleChunks().add(byteArrayOf(1, 2, 3)) }
                b.importBundle(whole!!)
                assertEquals(doc.toJson(), b.openDocument(doc.id()).toJson())
                a.shutdown()
                b.shutdown()
            }
        }
    }

    /** Two nodes sync only through a pipe implemented in Kotlin, both ways. */
    @Test
    fun twoNodesSyncOverALinkImplementedInKotlin() = runBlocking<Unit> {
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val doc = a.createDocument()
                doc.addMember(b.keyBundle())
                val text = doc.text("log")
                for (i in 0 until 200) text.push("entry $i; ")
                val docB = b.registerDocument(doc.id())
                suspend fun sync(): Pair<LinkReport, LinkReport> = withTimeout(60_000) {
                    val (la, lb) = PipeLink.pair()
                    val ra = async { a.syncOverLink(la, LinkRole.INITIATOR) }
                    val rb = async { b.syncOverLink(lb, LinkRole.RESPONDER) }
                    ra.await() to rb.await()
                }
                val (ra, rb) = sync()
                assertEquals(b.authorId(), ra.peer)
                assertEquals(a.authorId(), rb.peer)
                assertEquals(1u, ra.documents)
                assertTrue(rb.receivedOps >= 200uL)
                assertEquals(doc.toJson(), docB.toJson())
                // And back: B's edit reaches A over a new link; only that edit travels.
                docB.text("log").push("B was here")
                val (ra2, _) = sync()
                assertEquals(1uL, ra2.receivedOps)
                assertEquals(docB.toJson(), doc.toJson())
                assertTrue(doc.toJson().contains("B was here"))
                // Two initiators refuse each other.
                val (l1, l2) = PipeLink.pair()
                withTimeout(60_000) {
                    val r1 = async { runCatching { a.syncOverLink(l1, LinkRole.INITIATOR) } }
                    val r2 = async { runCatching { b.syncOverLink(l2, LinkRole.INITIATOR) } }
                    assertTrue(r1.await().exceptionOrNull() is FieldSyncException.Network)
                    assertTrue(r2.await().exceptionOrNull() is FieldSyncException.Network)
                }
                a.shutdown()
                b.shutdown()
            }
        }
    }
}
