// JVM tests of attachments through the Kotlin bindings (issue #29): a photo added as bytes,
// its reference kept in the document, read back equal, fetched by another device over QUIC
// with progress events, fetched unasked by policy, and collected once unreferenced.
package org.fieldsync

import java.nio.file.Files
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.test.assertFailsWith

class AttachmentsTest {
    private val dirs = mutableListOf<java.io.File>()

    private fun tempDir(): String {
        val d = Files.createTempDirectory("fieldsync-attach-").toFile()
        dirs.add(d)
        return d.absolutePath
    }

    @After
    fun cleanUp() {
        dirs.forEach { it.deleteRecursively() }
    }

    @Test
    fun aPhotoAddedAsBytesReadsBackEqual() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val doc = node.createDocument()
            val photo = ByteArray(700_000) { (it * 31 % 251).toByte() }
            val reference = doc.addAttachment(photo, "image/jpeg")
            assertTrue(reference.startsWith("fsatt1:"))
            doc.map("survey").set("photo", Value.String(reference))
            assertArrayEquals(photo, node.readAttachment(reference))
            assertFailsWith<FieldSyncException.InvalidArgument> { node.readAttachment("not a reference") }
            Node.open(tempDir()).use { other ->
                assertFailsWith<FieldSyncException.NotFound> { other.readAttachment(reference) }
                other.shutdown()
            }
            node.shutdown()
        }
    }

    /** B reads the reference from the document, fetches the photo from A and sees progress. */
    @Test
    fun aPhotoFetchedByAnotherDeviceWithProgress() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val doc = a.createDocument()
                val photo = ByteArray(1_500_000) { (it * 7 % 253).toByte() }
                doc.map("survey").set("photo", Value.String(doc.addAttachment(photo, "image/jpeg")))
                a.startNetwork(loopback)
                b.startNetwork(loopback)
                doc.addMember(b.keyBundle())
                val docB = b.join(doc.invite())
                val deadline = System.currentTimeMillis() + 30_000
                while (docB.toJson() != doc.toJson()) {
                    if (System.currentTimeMillis() > deadline) throw AssertionError("B never caught up")
                    delay(50)
                }
                val reference = (docB.map("survey").get("photo") as Value.String).value
                val sub = b.subscribe()
                val progress = async(Dispatchers.Default) {
                    val seen = mutableListOf<ULong>()
                    var started = false
                    var ended = false
                    while (true) {
                        val e = sub.next() ?: break
                        if (e is FieldSyncEvent.AttachmentFetchStarted) started = true
                        if (e is FieldSyncEvent.AttachmentProgress) seen.add(e.bytes)
                        if (e is FieldSyncEvent.AttachmentFetchEnded) {
                            ended = e.complete
                            break
                        }
                    }
                    Triple(seen, started, ended)
                }
                val fetched = b.fetchAttachment(docB.id(), reference)
                assertTrue(fetched.complete)
                val (seen, started, ended) = withTimeout(30_000) { progress.await() }
                assertTrue("a start event came first", started)
                assertTrue("the end event says complete", ended)
                sub.close()
                assertTrue("progress in steps: $seen", seen.size >= 2)
                assertEquals(seen.sorted(), seen)
                assertArrayEquals(photo, b.readAttachment(reference))
                a.shutdown()
                b.shutdown()
            }
        }
    }

    /** With `AttachmentPolicy.Always`, B holds the photo without asking; once the reference
     *  is gone from the document, `collectAttachments` deletes it (no grace period here). */
    @Test
    fun aPolicyFetchesUnaskedAndCollectionDeletesWhatIsNoLongerReferenced() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        val noGrace = NodeOptions(attachmentGraceSecs = 0u)
        Node.open(tempDir()).use { a ->
            Node.open(tempDir(), options = noGrace).use { b ->
                b.setAttachmentPolicy(AttachmentPolicy.ALWAYS)
                b.setMetered(false)
                val doc = a.createDocument()
                a.startNetwork(loopback)
                b.startNetwork(loopback)
                doc.addMember(b.keyBundle())
                val docB = b.join(doc.invite())
                val photo = ByteArray(400_000) { (it * 13 % 241).toByte() }
                val reference = doc.addAttachment(photo, "image/jpeg")
                doc.map("survey").set("photo", Value.String(reference))
                val deadline = System.currentTimeMillis() + 30_000
                while (true) {
                    val held = try { b.readAttachment(reference) } catch (e: FieldSyncException.NotFound) { null }
                    if (held != null) {
                        assertArrayEquals(photo, held)
                        break
                    }
                    if (System.currentTimeMillis() > deadline) throw AssertionError("never fetched by policy")
                    delay(50)
                }
                doc.map("survey").delete("photo")
                while (docB.toJson() != doc.toJson()) {
                    if (System.currentTimeMillis() > deadline) throw AssertionError("B never saw the removal")
                    delay(50)
                }
                val swept = b.collectAttachments()
                assertEquals(1uL, swept.unreferenced)
                assertTrue(swept.freedBytes >= 400_000uL)
                assertFailsWith<FieldSyncException.NotFound> { b.readAttachment(reference) }
                a.shutdown()
                b.shutdown()
            }
        }
    }
}
