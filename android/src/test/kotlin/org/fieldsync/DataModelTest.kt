// JVM tests of the data model through the Kotlin bindings (issue #25): nested records over
// QUIC, JSON in and out mapped to a data class, path observers as a Flow, UTF-16 positions,
// undo, history and snapshots.
package org.fieldsync

import java.nio.file.Files
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.test.assertFailsWith

/**
 * A survey record as an app would model it. Apps map it with kotlinx.serialization
 * (`Json.decodeFromString<Household>(json)`, see android/README.md); the JVM test toolchain has
 * no kotlinx.serialization runtime offline, so this test maps it with [MiniJson] instead, the
 * same JSON contract.
 */
data class Household(val name: String, val size: Long, val readings: List<Double>, val notes: String) {
    fun toJson(): String =
        """{"name":${MiniJson.quote(name)},"size":$size,"readings":[${readings.joinToString(",")}]}"""

    companion object {
        fun fromJson(json: String): Household {
            @Suppress("UNCHECKED_CAST")
            val o = MiniJson.parse(json) as Map<String, Any?>
            return Household(
                name = o["name"] as String,
                size = (o["size"] as Number).toLong(),
                readings = (o["readings"] as List<Any?>).map { (it as Number).toDouble() },
                notes = o["notes"] as String? ?: "",
            )
        }
    }
}

/** A small JSON reader for the test (objects, arrays, strings, numbers, booleans, null). */
object MiniJson {
    fun quote(s: String): String =
        "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\""

    fun parse(s: String): Any? {
        val p = Parser(s)
        val v = p.value()
        p.ws()
        require(p.i == s.length) { "trailing characters in $s" }
        return v
    }

    private class Parser(val s: String) {
        var i = 0
        fun ws() { while (i < s.length && s[i].isWhitespace()) i++ }
        fun value(): Any? {
            ws()
            return when (val c = s[i]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> { i += 4; true }
                'f' -> { i += 5; false }
                'n' -> { i += 4; null }
                else -> if (c == '-' || c.isDigit()) num() else error("bad JSON at $i: $s")
            }
        }
        fun obj(): Map<String, Any?> {
            val m = LinkedHashMap<String, Any?>()
            i++; ws()
            if (s[i] == '}') { i++; return m }
            while (true) {
                ws(); val k = str(); ws(); i++ // ':'
                m[k] = value(); ws()
                if (s[i++] == '}') return m
            }
        }
        fun arr(): List<Any?> {
            val l = ArrayList<Any?>()
            i++; ws()
            if (s[i] == ']') { i++; return l }
            while (true) {
                l.add(value()); ws()
                if (s[i++] == ']') return l
            }
        }
        fun str(): String {
            val b = StringBuilder()
            i++
            while (s[i] != '"') {
                if (s[i] == '\\') {
                    i++
                    when (s[i]) {
                        'n' -> b.append('\n')
                        'u' -> { b.append(s.substring(i + 1, i + 5).toInt(16).toChar()); i += 4 }
                        else -> b.append(s[i])
                    }
                } else b.append(s[i])
                i++
            }
            i++
            return b.toString()
        }
        fun num(): Number {
            val start = i
            while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
            val t = s.substring(start, i)
            return if (t.any { it in ".eE" }) t.toDouble() else t.toLong()
        }
    }
}

class DataModelTest {
    private val dirs = mutableListOf<java.io.File>()

    private fun tempDir(): String {
        val d = Files.createTempDirectory("fieldsync-model-").toFile()
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

    private fun households(i: Int) = listOf(PathSegment.Key("households"), PathSegment.Index(i.toUInt()))

    /**
     * The acceptance scenario: a households survey (a list of records, each with a nested list
     * of readings and a notes text) edited concurrently on two nodes over QUIC converges; a
     * path observer on B sees exactly the remote changes under its record, its first item
     * being the record now; the record read back as JSON decodes to what was written.
     */
    @Test
    fun householdsSurveyOverQuicConvergesAndAPathObserverSeesOnlyItsRecord() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val docA = a.createDocument()
                val list = docA.list("households")
                val first = Household("Nkosi", 4, listOf(1.5, 2.0), "")
                list.pushJson(first.toJson())
                list.pushJson(Household("Okafor", 2, listOf(), "").toJson())
                list.getMap(0u)!!.insertText("notes").insert(0u, "Roof leaks")
                list.getMap(1u)!!.insertText("notes")

                a.startNetwork(loopback)
                b.startNetwork(loopback)
                docA.addMember(b.keyBundle())
                val docB = b.join(docA.invite())
                awaitEqual("B catches up") { docB.toJson() == docA.toJson() }

                // B observes record 1 only (subscribed before the edits, collected meanwhile).
                val subscription = docB.observePath(households(1))
                val observed = async(Dispatchers.Default) {
                    subscription.asFlow().take(2).toList()
                }
                // Concurrent edits: B in record 0's text, A in record 1's readings and record
                // 0's size.
                docB.list("households").getMap(0u)!!.getText("notes")!!.push(" (north)")
                list.getMap(1u)!!.getList("readings")!!.push(Value.Double(7.25))
                list.getMap(0u)!!.set("size", Value.Int(5L))
                awaitEqual("converged") {
                    docB.toJson() == docA.toJson() && docA.toJson().contains("(north)") &&
                        docB.toJson().contains("7.25")
                }
                val items = withTimeout(30_000) { observed.await() }
                subscription.close()
                val current = items[0] as ChangeItem.Current
                assertEquals(Household("Okafor", 2, listOf(), ""), Household.fromJson(current.json))
                val changes = (items[1] as ChangeItem.Changes)
                assertEquals(ChangeOrigin.Remote(a.authorId()), changes.origin)
                assertEquals(
                    listOf(
                        Change(
                            households(1) + PathSegment.Key("readings"),
                            ChangeDiff.ListInsert(0u, listOf("7.25")),
                        ),
                    ),
                    changes.changes,
                )

                // JSON in and out maps to the data class on both replicas.
                val decoded = Household.fromJson(docB.getJson(households(0))!!)
                assertEquals(Household("Nkosi", 5, listOf(1.5, 2.0), "Roof leaks (north)"), decoded)
                assertEquals(decoded, Household.fromJson(docA.getJson(households(0))!!))
                a.shutdown()
                b.shutdown()
            }
        }
    }

    /** A UTF-16 position from a Kotlin String index lands where the String says. */
    @Test
    fun utf16InsertAfterAnEmojiLandsWhereTheStringIndexSays() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val text = node.createDocument().text("t")
            assertEquals(TextUnit.UTF16, text.unit())
            val before = "a😀e\u0301b"
            text.insert(0u, before)
            val at = before.indexOf('e') // 3: the emoji is two UTF-16 units
            text.insert(at.toUInt(), "X")
            assertEquals(StringBuilder(before).insert(at, "X").toString(), text.content())
            assertEquals(text.content().length.toUInt(), text.len())
            assertFailsWith<FieldSyncException.InvalidArgument> { text.insert(2u, "!") }
            text.delete(1u, 2u)
            assertEquals("aXe\u0301b", text.content())
            val scalars = text.withUnit(TextUnit.UNICODE)
            scalars.insert(1u, "😀")
            assertEquals("a😀Xe\u0301b", text.content())
            node.shutdown()
        }
    }

    /** Undo of a local edit after a remote edit keeps the remote edit, on both replicas. */
    @Test
    fun undoAfterARemoteEditKeepsTheRemoteEdit() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val docA = a.createDocument()
                a.startNetwork(loopback)
                b.startNetwork(loopback)
                docA.addMember(b.keyBundle())
                val docB = b.join(docA.invite())
                docA.text("notes").insert(0u, "hello")
                awaitEqual("B has A's edit") { docB.text("notes").content() == "hello" }
                docB.text("notes").push(" world")
                awaitEqual("A has B's edit") { docA.text("notes").content() == "hello world" }
                assertTrue(docA.canUndo())
                assertTrue(docA.undo())
                assertEquals(" world", docA.text("notes").content())
                awaitEqual("B sees the undo") { docB.text("notes").content() == " world" }
                assertTrue(docA.redo())
                awaitEqual("B sees the redo") { docB.text("notes").content() == "hello world" }
                a.shutdown()
                b.shutdown()
            }
        }
    }

    /** History, a view at a version, a diff, and a snapshot imported as a new document. */
    @Test
    fun historySnapshotsAndCounters() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val doc = node.createDocument()
            doc.setJson(listOf(PathSegment.Key("site")), """{"name":"Well 4","depth":12}""")
            val v1 = doc.currentVersion()
            doc.counter("visits").increment(2.0)
            val v2 = doc.currentVersion()
            assertEquals("""{"site":{"depth":12,"name":"Well 4"}}""", doc.jsonAt(v1))
            assertEquals(listOf(Change(listOf(PathSegment.Key("visits")), ChangeDiff.Counter(2.0))), doc.diff(v1, v2))
            val history = doc.history(10u)
            assertEquals(v2.toList(), history.first().version.toList())
            assertEquals(node.authorId(), history.first().author)
            val copy = node.importSnapshot(doc.exportSnapshot())
            assertEquals(doc.toJson(), copy.toJson())
            assertFalse(copy.id() == doc.id())
            assertFailsWith<FieldSyncException.InvalidArgument> { node.importSnapshot(ByteArray(10) { 1 }) }
            val handle = doc.at(listOf(PathSegment.Key("site")))
            assertTrue(handle is ContainerHandle.Map)
            assertEquals(2.0, doc.counter("visits").value(), 0.0)
            node.shutdown()
        }
    }
}
