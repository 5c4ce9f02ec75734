// JVM tests of the FieldSync Kotlin bindings (generated code + android/src/main/kotlin wrappers)
// against the host-built libfieldsync_ffi.so. Run: make -f mk/bindings.mk test-kotlin
// (scripts/kotlin-test.sh: kotlinc + JUnit 4; class names must end in Test/Tests).
package org.fieldsync

import java.nio.file.Files
import java.util.concurrent.ConcurrentLinkedQueue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.test.assertFailsWith

/** An app-side key store, as an Android Keystore-backed one would look from the SDK. */
class MemoryKeyStore(var key: ByteArray? = null, var storeKey: ByteArray? = null) : DeviceKeyStore {
    var saves = 0
    var storeKeySaves = 0
    override fun load(): ByteArray? = key?.copyOf()
    override fun save(key: ByteArray) {
        this.key = key.copyOf()
        saves++
    }
    override fun loadStoreKey(): ByteArray? = storeKey?.copyOf()
    override fun saveStoreKey(key: ByteArray) {
        storeKey = key.copyOf()
        storeKeySaves++
    }
}

class CollectingLogger : FieldSyncLogger {
    val records = ConcurrentLinkedQueue<String>()
    override fun log(level: LogLevel, target: String, message: String) {
        records.add("$level $target $message")
    }
}

class FieldSyncTest {
    private val dirs = mutableListOf<java.io.File>()

    private fun tempDir(): String {
        val d = Files.createTempDirectory("fieldsync-kt").toFile()
        dirs.add(d)
        return d.absolutePath
    }

    @After
    fun cleanUp() {
        dirs.forEach { it.deleteRecursively() }
    }

    /** Compiles only if the generated API has the shape the Flow adapters rely on. */
    @Test
    fun flowAdaptersMatchGeneratedApi(): Unit = runBlocking {
        val subscriptionToFlow: (EventSubscription) -> Flow<FieldSyncEvent> = EventSubscription::asFlow
        val nodeToFlow: (Node) -> Flow<FieldSyncEvent> = Node::events
        assertNotNull(subscriptionToFlow)
        assertNotNull(nodeToFlow)
    }

    @Test
    fun openCreateEditAndReadJson(): Unit = runBlocking {
        Node.open(tempDir()).use { node ->
            assertEquals(64, node.authorId().length)
            val doc = node.createDocument()
            assertEquals(listOf(doc.id()), node.documentIds())

            val text = doc.text("notes")
            text.insert(0u, "water point 3")
            text.push(" repaired")
            text.delete(0u, 6u)
            assertEquals("point 3 repaired", text.content())
            assertEquals(16u, text.len())

            val map = doc.map("site")
            map.set("name", Value.String("Kisumu"))
            map.set("visits", Value.Int(3L))
            map.set("ok", Value.Bool(true))
            map.set("ph", Value.Double(7.2))
            map.set("note", Value.Null)
            map.delete("note")
            assertEquals(Value.Int(3L), map.get("visits"))
            assertNull(map.get("missing"))
            assertEquals(listOf("name", "ok", "ph", "visits"), map.keys())

            val list = doc.list("readings")
            list.push(Value.Int(1L))
            list.push(Value.Int(3L))
            list.insert(1u, Value.Int(2L))
            list.delete(2u, 1u)
            assertEquals(2u, list.len())
            assertEquals(Value.Int(2L), list.get(1u))
            assertNull(list.get(5u))

            assertEquals(
                """{"notes":"point 3 repaired","readings":[1,2],""" +
                    """"site":{"name":"Kisumu","ok":true,"ph":7.2,"visits":3}}""",
                doc.toJson(),
            )
            val version = doc.version()
            assertEquals(setOf(node.authorId()), version.keys)
            assertEquals(doc.opCount().toLong() - 1, version.getValue(node.authorId()).toLong())
            assertEquals(VersionOrdering.EQUAL, compareVersions(version, version))
            assertEquals(VersionOrdering.AHEAD, compareVersions(version, emptyMap()))
            // Pending: every edit plus the two control operations that created the document:
            // its genesis (roles) and its group.
            assertEquals(doc.opCount() + 2u, doc.pendingOps())
            assertEquals(doc.opCount().toInt() + 2, node.pendingOps().size)
            assertTrue(node.pendingOps().all { it.document == doc.id() && it.attempts == 0u })
        }
    }

    @Test
    fun reopenFromDisk() = runBlocking<Unit> {
        val dir = tempDir()
        val (author, id, json) = Node.open(dir).use { node ->
            val doc = node.createDocument()
            doc.text("t").insert(0u, "persisted")
            doc.map("m").set("k", Value.Int(42L))
            val r = Triple(node.authorId(), doc.id(), doc.toJson())
            node.shutdown()
            r
        }
        Node.open(dir).use { node ->
            assertEquals(author, node.authorId())
            assertEquals(listOf(id), node.documentIds())
            val doc = node.openDocument(id)
            assertEquals(json, doc.toJson())
            doc.text("t").push(", and reopened")
            assertEquals("persisted, and reopened", doc.text("t").content())
        }
    }

    @Test
    fun deleteDocument(): Unit = runBlocking {
        Node.open(tempDir()).use { node ->
            val doc = node.createDocument()
            doc.text("t").insert(0u, "x")
            node.deleteDocument(doc.id())
            assertTrue(node.documentIds().isEmpty())
            assertFailsWith<FieldSyncException.NotFound> { doc.toJson() }
            assertFailsWith<FieldSyncException.NotFound> { node.openDocument(doc.id()) }
        }
    }

    @Test
    fun eventsArriveThroughSubscriptionFlow() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val doc = node.createDocument()
            node.subscribe().use { sub ->
                val events = async { sub.asFlow().take(2).toList() }
                doc.text("t").insert(0u, "a")
                doc.map("m").set("k", Value.Bool(true))
                val got = withTimeout(10_000) { events.await() }
                assertEquals(
                    List(2) { FieldSyncEvent.DocumentChanged(doc.id(), ChangeOrigin.Local) },
                    got,
                )
                // take(2) completed the flow, which cancelled the subscription.
                assertTrue(sub.isCancelled())
                assertNull(sub.next())
            }
        }
    }

    @Test
    fun nodeEventsFlowDeliversFirstEvent() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val doc = node.createDocument()
            val first = async(Dispatchers.Default) { node.events().first() }
            // The flow subscribes when collection starts: edit until the collector sees one.
            var i = 0u
            while (!first.isCompleted) {
                doc.list("l").push(Value.Int(i.toLong()))
                i++
                delay(20)
                if (i > 500u) break
            }
            val event = withTimeout(10_000) { first.await() }
            assertEquals(FieldSyncEvent.DocumentChanged(doc.id(), ChangeOrigin.Local), event)
        }
    }

    @Test
    fun cancelEndsPendingAndLaterNext() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val sub = node.subscribe()
            val pending = async(Dispatchers.Default) { sub.next() }
            delay(100)
            sub.cancel()
            assertNull(withTimeout(5_000) { pending.await() })
            assertNull(sub.next())
            sub.close()
        }
    }

    @Test
    fun shutdownEndsSubscriptionsAndClosesTheNode() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val doc = node.createDocument()
            val text = doc.text("t")
            val sub = node.subscribe()
            node.shutdown()
            node.shutdown() // idempotent
            assertTrue(node.isShutDown())
            assertNull(withTimeout(5_000) { sub.next() })
            assertFailsWith<FieldSyncException.Closed> { node.createDocument() }
            assertFailsWith<FieldSyncException.Closed> { node.documentIds() }
            assertFailsWith<FieldSyncException.Closed> { doc.toJson() }
            assertFailsWith<FieldSyncException.Closed> { text.insert(0u, "x") }
            assertFailsWith<FieldSyncException.Closed> { node.startNetwork(NetworkOptions()) }
        }
    }

    @Test
    fun invalidInputRaisesTypedErrors() = runBlocking<Unit> {
        Node.open(tempDir()).use { node ->
            val doc = node.createDocument()
            // errors read well and carry a stable code
            val e = assertFailsWith<FieldSyncException.InvalidArgument> { node.openDocument("not-an-id") }
            assertEquals("invalid_argument", e.code())
            assertTrue(e.message!!, e.message!!.startsWith("invalid argument: "))
            assertTrue(e.message!!.endsWith(e.reason))
            assertEquals(e.message, e.toString())
            // unknown / malformed document ids
            assertFailsWith<FieldSyncException.NotFound> { node.openDocument("ab".repeat(32)) }
            assertFailsWith<FieldSyncException.NotFound> { node.deleteDocument("cd".repeat(32)) }
            assertFailsWith<FieldSyncException.InvalidArgument> { node.openDocument("") }
            assertFailsWith<FieldSyncException.InvalidArgument> { node.openDocument("not-an-id") }
            assertFailsWith<FieldSyncException.InvalidArgument> { node.openDocument("a".repeat(1_000_000)) }
            // empty and huge strings
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.text("") }
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.map("m".repeat(300)) }
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.text("t").insert(0u, "") }
            val huge = "x".repeat(17 * 1024 * 1024)
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.text("t").push(huge) }
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.map("m").set("k", Value.String(huge)) }
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.map("m").set("", Value.Null) }
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.map("m").get("") }
            // out of bounds, non-finite numbers
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.text("t").insert(5u, "x") }
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.list("l").delete(0u, 1u) }
            assertFailsWith<FieldSyncException.InvalidArgument> { doc.list("l").push(Value.Double(Double.NaN)) }
            // malformed invites
            assertFailsWith<FieldSyncException.InvalidInvite> { node.join("") }
            assertFailsWith<FieldSyncException.InvalidInvite> { node.join("https://example.com/x") }
            assertFailsWith<FieldSyncException.InvalidInvite> { node.join("fs1:!!!not-base64!!!") }
            assertFailsWith<FieldSyncException.InvalidInvite> { node.join("fs1:" + "A".repeat(100_000)) }
            assertFailsWith<FieldSyncException.InvalidInvite> { node.join(doc.invite()) } // own invite
            // network misuse
            assertFailsWith<FieldSyncException.Network> { node.stopNetwork() }
            assertFailsWith<FieldSyncException.InvalidArgument> {
                node.startNetwork(NetworkOptions(bindIp = "localhost:99"))
            }
            assertFailsWith<FieldSyncException.InvalidArgument> {
                node.addPeer(PeerAddress(nodeId = node.authorId(), addresses = listOf("nowhere")))
            }
            // nothing above changed the document
            assertEquals("{}", doc.toJson())
        }
        // bad data directories
        assertFailsWith<FieldSyncException.InvalidArgument> { Node.open("") }
        assertFailsWith<FieldSyncException.InvalidArgument> { Node.open("a\u0000b") }
        val file = java.io.File(tempDir(), "not-a-dir").apply { writeText("x") }
        assertFailsWith<FieldSyncException.Storage> { Node.open(file.absolutePath) }
        Unit
    }

    @Test
    fun keyStoreKeepsTheDeviceKey(): Unit = runBlocking {
        val store = MemoryKeyStore()
        val author = Node.open(tempDir(), store).use { it.authorId() }
        assertEquals(1, store.saves)
        assertEquals(32, store.key!!.size)
        // Same key, another data directory: same identity; nothing saved again.
        Node.open(tempDir(), store).use { assertEquals(author, it.authorId()) }
        assertEquals(1, store.saves)
        // Default (key in the database) gives another identity.
        Node.open(tempDir()).use { assertNotEquals(author, it.authorId()) }
    }

    @Test
    fun keyStoreFailuresAreCryptoErrors(): Unit = runBlocking {
        assertFailsWith<FieldSyncException.Crypto> { Node.open(tempDir(), MemoryKeyStore(ByteArray(5))) }
        val locked = object : DeviceKeyStore {
            override fun load(): ByteArray? = throw FieldSyncException.Storage("keystore locked")
            override fun save(key: ByteArray) = Unit
            override fun loadStoreKey(): ByteArray? = throw FieldSyncException.Storage("keystore locked")
            override fun saveStoreKey(key: ByteArray) = Unit
        }
        val e = assertFailsWith<FieldSyncException.Crypto> { Node.open(tempDir(), locked) }
        assertTrue(e.message!!, e.message!!.contains("keystore locked"))
        val crashing = object : DeviceKeyStore {
            override fun load(): ByteArray? = null
            override fun save(key: ByteArray) = throw IllegalStateException("no keystore")
            override fun loadStoreKey(): ByteArray? = null
            override fun saveStoreKey(key: ByteArray) = throw IllegalStateException("no keystore")
        }
        assertFailsWith<FieldSyncException.Crypto> { Node.open(tempDir(), crashing) }
    }

    @Test
    fun storeKeyBusyWrongKeyAndRotation() = runBlocking<Unit> {
        val dir = tempDir()
        val store = MemoryKeyStore()
        val text = Node.open(dir, store).use { node ->
            assertEquals(1, store.storeKeySaves)
            assertEquals(32, store.storeKey!!.size)
            // One node per data directory.
            assertFailsWith<FieldSyncException.Busy> { Node.open(dir, store) }
            val doc = node.createDocument()
            doc.text("t").insert(0u, "sealed at rest")
            val before = store.storeKey!!.copyOf()
            node.rotateStoreKey()
            assertEquals(2, store.storeKeySaves)
            assertFalse(before.contentEquals(store.storeKey!!))
            val json = doc.toJson()
            // Releases the directory although `doc` is still referenced.
            node.shutdown()
            json
        }
        // Another store key: a typed error, and nothing is damaged.
        val wrong = MemoryKeyStore(store.key, ByteArray(32) { 7 })
        assertFailsWith<FieldSyncException.WrongKey> { Node.open(dir, wrong) }
        Node.open(dir, store).use { node ->
            assertEquals(text, node.openDocument(node.documentIds().single()).toJson())
        }
    }

    @Test
    fun loggerReceivesTracingOutput(): Unit = runBlocking {
        val logger = CollectingLogger()
        setLogger(logger, LogLevel.INFO)
        try {
            Node.open(tempDir()).use { }
            assertTrue(logger.records.toString(), logger.records.any { it.contains("node opened") })
        } finally {
            setLogger(null)
        }
        // Records already on their way from other threads (earlier tests' nodes winding
        // down) may still land; nothing of this new node may.
        val before = logger.records.size
        Node.open(tempDir()).use { }
        assertFalse(logger.records.drop(before).toString(), logger.records.drop(before).any { it.contains("node opened") })
    }

    @Test
    fun twoNodesSyncOverQuicAndOfflineEditsArriveAfterRestart() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val docA = a.createDocument()
                docA.text("notes").insert(0u, "written before the network started")
                val infoA = a.startNetwork(loopback)
                assertEquals(a.authorId(), infoA.nodeId)
                assertTrue(infoA.addresses.isNotEmpty())
                b.startNetwork(loopback)
                assertTrue(b.isOnline())

                // B's key bundle reaches A out of band (QR code); A adds B to the document.
                val added = docA.addMember(b.keyBundle())
                assertEquals(b.authorId(), added)
                assertTrue(docA.members().contains(b.authorId()))
                // A wrong key bundle is a typed error, not a crash.
                assertFailsWith<FieldSyncException.Crypto> { docA.addMember(ByteArray(40) { 7 }) }
                assertFailsWith<FieldSyncException.InvalidArgument> { docA.addMember(ByteArray(0)) }
                val docB = b.join(docA.invite())
                assertEquals(docA.id(), docB.id())
                awaitEqual("B catches up with A") { docB.toJson() == docA.toJson() }

                docA.map("site").set("status", Value.String("repaired"))
                awaitEqual("live edit reaches B") { docB.toJson() == docA.toJson() }
                assertEquals(VersionOrdering.EQUAL, compareVersions(docA.version(), docB.version()))
                assertTrue(docB.syncStatus().online)

                // Ephemeral messages (presence pings) arrive on each publish, a repeated
                // payload too. Gossip is best effort until the two are neighbours: warm up.
                b.subscribe().use { sub ->
                    val warmUp = launch(Dispatchers.Default) {
                        var i = 0
                        while (isActive) {
                            docA.publishEphemeral("warm-up ${i++}".toByteArray())
                            delay(200)
                        }
                    }
                    withTimeoutOrNull(30_000) { nextEphemeralFrom(sub, a.authorId()) }
                        ?: throw AssertionError("no ephemeral message reached B within 30 s")
                    warmUp.cancelAndJoin()
                    val ping = "ping".toByteArray()
                    repeat(3) { round ->
                        docA.publishEphemeral(ping)
                        withTimeoutOrNull(10_000) {
                            while (!nextEphemeralFrom(sub, a.authorId()).contentEquals(ping)) Unit
                        } ?: throw AssertionError("ping ${round + 1} did not reach B within 10 s")
                    }
                }

                // B goes offline, edits, comes back: the edit reaches A without app action.
                b.stopNetwork()
                assertFalse(b.isOnline())
                docB.list("readings").push(Value.Int(7L))
                assertEquals(1uL, docB.pendingOps())
                assertNotEquals(docA.toJson(), docB.toJson())
                b.startNetwork(loopback)
                awaitEqual("offline edit reaches A after restart") { docA.toJson() == docB.toJson() }
                assertTrue(docA.toJson().contains("\"readings\":[7]"))

                a.shutdown()
                b.shutdown()
            }
        }
    }

    /**
     * A reader gets the document and its role from A, but its own edits are refused with
     * `NotAllowed` on its device and change nothing; promoted to writer, it can edit.
     */
    @Test
    fun readerEditsAreNotAllowed() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val docA = a.createDocument()
                docA.text("notes").insert(0u, "for B to read")
                a.startNetwork(loopback)
                b.startNetwork(loopback)

                assertEquals(b.authorId(), docA.addMemberAs(b.keyBundle(), Role.READER))
                assertEquals(Role.ADMIN, docA.myRole())
                assertTrue(docA.roles().contains(MemberRole(b.authorId(), Role.READER)))
                val docB = b.join(docA.invite())
                awaitEqual("B gets the document and its reader role") {
                    docB.myRole() == Role.READER && docB.toJson() == docA.toJson()
                }
                assertEquals(Role.READER, docB.myRole())

                val before = docB.toJson()
                assertFailsWith<FieldSyncException.NotAllowed> { docB.text("notes").insert(0u, "B was here: ") }
                assertFailsWith<FieldSyncException.NotAllowed> { docB.map("site").set("by", Value.String("B")) }
                assertEquals(before, docB.toJson())
                assertEquals("for B to read", docB.text("notes").content())

                // The refusal comes from the role: the same edit goes through once B writes.
                docA.setRole(b.authorId(), Role.WRITER)
                awaitEqual("B learns it was promoted") { docB.myRole() == Role.WRITER }
                docB.text("notes").insert(0u, "B was here: ")
                awaitEqual("B's edit reaches A") { docA.toJson() == docB.toJson() }
                assertEquals("B was here: for B to read", docA.text("notes").content())

                a.shutdown()
                b.shutdown()
            }
        }
    }

    /**
     * Removing a member through the API: a writer's `removeMember` is refused with
     * `NotAllowed`, the admin's removes the member from `roles()` and the group.
     */
    @Test
    fun onlyAnAdminRemovesMembers() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val docA = a.createDocument()
                a.startNetwork(loopback)
                b.startNetwork(loopback)

                // addMember adds as a writer.
                assertEquals(b.authorId(), docA.addMember(b.keyBundle()))
                assertEquals(
                    setOf(MemberRole(a.authorId(), Role.ADMIN), MemberRole(b.authorId(), Role.WRITER)),
                    docA.roles().toSet(),
                )
                val docB = b.join(docA.invite())
                awaitEqual("B gets its writer role") { docB.myRole() == Role.WRITER }

                // A writer may edit but not remove members; the refused call changes no role.
                assertFailsWith<FieldSyncException.NotAllowed> { docB.removeMember(a.authorId()) }
                assertEquals(Role.ADMIN, docB.roles().single { it.authorId == a.authorId() }.role)
                docB.map("site").set("status", Value.String("checked by B"))
                awaitEqual("B's edit reaches A") { docA.toJson() == docB.toJson() }
                assertEquals(
                    setOf(MemberRole(a.authorId(), Role.ADMIN), MemberRole(b.authorId(), Role.WRITER)),
                    docA.roles().toSet(),
                )
                assertTrue(docA.members().contains(b.authorId()))

                docA.removeMember(b.authorId())
                assertEquals(listOf(MemberRole(a.authorId(), Role.ADMIN)), docA.roles())
                assertFalse(docA.members().contains(b.authorId()))
                // B is no longer a member: removing it again is a typed error.
                assertFailsWith<FieldSyncException.InvalidArgument> { docA.removeMember(b.authorId()) }

                a.shutdown()
                b.shutdown()
            }
        }
    }

    /** The next [FieldSyncEvent.JoinRefused] on [sub]. */
    private suspend fun nextJoinRefused(sub: EventSubscription): FieldSyncEvent.JoinRefused {
        while (true) {
            val event = sub.next() ?: throw AssertionError("event stream ended")
            if (event is FieldSyncEvent.JoinRefused) return event
        }
    }

    /**
     * A join request the inviter refuses (its invites were revoked) is reported on both
     * devices with the reason; before it is delivered, `syncStatus().join` says it waits.
     */
    @Test
    fun aRefusedJoinIsReportedOnBothDevices() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val docA = a.createDocument()
                a.startNetwork(loopback)
                val invite = docA.invite()
                assertEquals(1uL, a.revokeInvites(docA.id()))
                val eventsA = a.subscribe()
                val eventsB = b.subscribe()
                val docB = b.join(invite) // B is offline: the request waits
                val waiting = docB.syncStatus().join ?: throw AssertionError("no join state")
                assertEquals(a.authorId(), waiting.inviter)
                assertFalse(waiting.delivered)
                assertNull(waiting.refused)
                assertTrue(waiting.description.startsWith("waiting for admission by"))

                b.startNetwork(loopback)
                val onA = withTimeout(30_000) { nextJoinRefused(eventsA) }
                val onB = withTimeout(30_000) { nextJoinRefused(eventsB) }
                for (e in listOf(onA, onB)) {
                    assertEquals(docA.id(), e.document)
                    assertEquals(b.authorId(), e.requester)
                    assertEquals(a.authorId(), e.inviter)
                    assertEquals(JoinRefusal.REVOKED, e.reason)
                }
                val refused = docB.syncStatus().join ?: throw AssertionError("no join state")
                assertEquals(JoinRefusal.REVOKED, refused.refused)
                assertTrue(refused.description.contains("revoked"))
                assertNull(docA.syncStatus().join)
                eventsA.cancel()
                eventsB.cancel()
            }
        }
    }

    /** The payload of the next ephemeral message from [from] on [sub]. */
    private suspend fun nextEphemeralFrom(sub: EventSubscription, from: String): ByteArray {
        while (true) {
            val event = sub.next() ?: throw AssertionError("event stream ended")
            if (event is FieldSyncEvent.Ephemeral && event.sender == from) return event.payload
        }
    }

    /** Roles: a reader reads but its edits are refused with [FieldSyncException.NotAllowed];
     * only an admin changes membership; removal through the API drops the member. */
    @Test
    fun aReadersEditIsRefusedAndRemovalWorks() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(tempDir()).use { a ->
            Node.open(tempDir()).use { b ->
                val docA = a.createDocument()
                docA.text("notes").insert(0u, "site 4: pump ok")
                assertEquals(Role.ADMIN, docA.myRole())
                a.startNetwork(loopback)
                b.startNetwork(loopback)
                docA.addMemberAs(b.keyBundle(), Role.READER)
                val docB = b.join(docA.invite())
                awaitEqual("the reader reads") { docB.toJson() == docA.toJson() }
                assertEquals(Role.READER, docB.myRole())
                assertFailsWith<FieldSyncException.NotAllowed> { docB.text("notes").insert(0u, "x") }
                assertFailsWith<FieldSyncException.NotAllowed> { docB.removeMember(a.authorId()) }
                assertTrue(docA.roles().contains(MemberRole(b.authorId(), Role.READER)))
                docA.removeMember(b.authorId())
                assertFalse(docA.roles().any { it.authorId == b.authorId() })
            }
        }
    }

    /** Issue #24: a backup of A's directory restored as a device while A was gone. B, which
     * holds A's later edit, gives it to the restored device: an operation signed with its own
     * key that it did not write. The event reaches the app and writes are refused. */
    @Test
    fun aRestoredBackupIsDetectedAsACloneOfTheIdentity() = runBlocking<Unit> {
        val loopback = NetworkOptions(bindIp = "127.0.0.1")
        val dirA = tempDir()
        val backup = tempDir()
        Node.open(tempDir()).use { b ->
            val infoB = b.startNetwork(loopback)
            var docId = ""
            Node.open(dirA).use { a ->
                val docA = a.createDocument()
                docId = docA.id()
                docA.text("t").insert(0u, "one")
                a.startNetwork(loopback)
                val docB = b.join(docA.invite())
                awaitEqual("B joins A's document") { docB.toJson() == docA.toJson() }
                a.shutdown()
            }
            // The backup: every file of the directory but the lock.
            java.io.File(dirA).listFiles()!!.filter { it.isFile && it.name != "fieldsync.lock" }
                .forEach { it.copyTo(java.io.File(backup, it.name), overwrite = true) }
            // A writes once more and B receives it; then A is gone.
            Node.open(dirA).use { a ->
                a.startNetwork(loopback)
                a.addPeer(PeerAddress(nodeId = b.authorId(), addresses = infoB.addresses))
                a.openDocument(docId).text("t").push(" two")
                awaitEqual("B holds A's later edit") {
                    b.openDocument(docId).text("t").content() == "one two"
                }
                a.shutdown()
            }
            Node.open(backup).use { restored ->
                // Offline, the backup does not know yet: it writes at the position A wrote.
                restored.openDocument(docId).text("t").push(" on the backup")
                restored.subscribe().use { sub ->
                    restored.startNetwork(loopback)
                    restored.addPeer(PeerAddress(nodeId = b.authorId(), addresses = infoB.addresses))
                    val event = withTimeoutOrNull(60_000) {
                        var found: FieldSyncEvent.IdentityCloned? = null
                        while (found == null) {
                            val e = sub.next() ?: throw AssertionError("event stream ended")
                            if (e is FieldSyncEvent.IdentityCloned) found = e
                        }
                        found
                    } ?: throw AssertionError("no IdentityCloned event within 60 s")
                    assertEquals(docId, event.document)
                }
                assertTrue(restored.identityCloned())
                // B received both operations for that position: the fork proof freezes the
                // identity's log there, and `forks()` names it.
                awaitEqual("B records the fork") {
                    b.openDocument(docId).forks().any { it.author == restored.authorId() && !it.control }
                }
                assertFailsWith<FieldSyncException.NotAllowed> {
                    restored.openDocument(docId).text("t").push(" from the backup")
                }
                restored.shutdown()
            }
            b.shutdown()
        }
    }

    /**
     * Closing the node (here by leaving `use {}`... or `close()`) shuts it down although a
     * document and a handle of it are still referenced: its QUIC socket is gone (the port
     * binds again), the handles fail with `Closed`, the directory opens again.
     */
    @Test
    fun closingTheNodeStopsItsNetworkWhileDocumentsAreStillReferenced() = runBlocking<Unit> {
        val dir = tempDir()
        val node = Node.open(dir)
        val doc = node.createDocument()
        val text = doc.text("t")
        text.insert(0u, "kept")
        val info = node.startNetwork(NetworkOptions(bindIp = "127.0.0.1"))
        val port = info.addresses.first { it.startsWith("127.0.0.1:") }.substringAfterLast(':').toInt()
        node.close()
        // The endpoint's socket closes in the background right after the network stops.
        awaitEqual("the QUIC socket is closed") {
            runCatching {
                java.net.DatagramSocket(port, java.net.InetAddress.getByName("127.0.0.1")).close()
            }.isSuccess
        }
        assertFailsWith<FieldSyncException.Closed> { text.push("x") }
        assertFailsWith<FieldSyncException.Closed> { doc.toJson() }
        Node.open(dir).use { again ->
            assertEquals("kept", again.openDocument(doc.id()).text("t").content())
            again.shutdown()
        }
    }

    private suspend fun awaitEqual(what: String, check: suspend () -> Boolean) {
        val deadline = System.currentTimeMillis() + 30_000
        while (!check()) {
            if (System.currentTimeMillis() > deadline) throw AssertionError("timed out: $what")
            delay(50)
        }
    }
}
