// SKELETON: placeholder JVM tests for the FieldSync Kotlin bindings.
// They are to be filled in once the FFI API of `fieldsync-ffi` lands (Node constructor/config,
// documents, sync). Run with scripts/kotlin-test.sh (JUnit 4 on the JVM against the host-built
// libfieldsync_ffi.so); class names must end in Test/Tests to be picked up.
package org.fieldsync

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertNotNull
import org.junit.Test

class FieldSyncTest {
    /** Compiles only if the generated API has the shape the Flow adapters rely on. */
    @Test
    fun flowAdaptersMatchGeneratedApi() {
        val subscriptionToFlow: (EventSubscription) -> Flow<FieldSyncEvent> = EventSubscription::asFlow
        val nodeToFlow: (Node) -> Flow<FieldSyncEvent> = Node::events
        assertNotNull(subscriptionToFlow)
        assertNotNull(nodeToFlow)
    }

    // TODO(ffi): once Node can be constructed from Kotlin (in-memory store, discovery off):
    //
    // @Test
    // fun eventsFlowDeliversAndCancels() = runBlocking {
    //     Node(/* config */).use { node ->
    //         val first = async { node.events().first() }
    //         /* trigger an event, e.g. create or change a document */
    //         assertTrue(first.await() is FieldSyncEvent.SomeVariant)
    //     }
    // }
    //
    // @Test
    // fun subscriptionEndsAfterCancel() = runBlocking {
    //     Node(/* config */).use { node ->
    //         val sub = node.subscribe()
    //         sub.cancel()
    //         assertNull(sub.next())
    //     }
    // }
    //
    // Further: errors map to FieldSyncException subclasses; records/enums round-trip; two nodes
    // on loopback sync a document (mirror of the Rust and Swift tests).

    @Test
    fun coroutinesAvailable() = runBlocking {
        // placeholder so the suite runs at least one real coroutine test until the API exists
        assertNotNull(coroutineContext)
    }
}
