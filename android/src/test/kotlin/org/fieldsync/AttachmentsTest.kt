// JVM tests of attachments through the Kotlin bindings (issue #29, on one device so far):
// a photo added as bytes, its reference kept in the document, read back equal.
package org.fieldsync

import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertArrayEquals
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
}
