// The survey sample: two field devices, a supervisor and an enumerator, share a household
// survey. Open, create, invite/join, edit, observe, go offline, sync.
//
// Plain Kotlin on the SDK's public API (no android.*), so the CI compiles and runs it on the
// JVM (scripts/kotlin-test.sh, SurveySampleTest); in an app the nodes live in a ViewModel and
// the flows are collected in lifecycleScope. The README snippets are excerpts of this file
// (checked by scripts/check-snippets.pl).
package org.fieldsync.samples.survey

import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.fieldsync.Document
import org.fieldsync.NetworkOptions
import org.fieldsync.Node
import org.fieldsync.PathSegment
import org.fieldsync.asFlow
import org.fieldsync.changes
import org.fieldsync.syncStatusFlow

/** What the two devices ended with. */
data class SurveyResult(val supervisorJson: String, val enumeratorJson: String, val changesSeen: Int)

/**
 * Runs the whole story with two nodes in [supervisorDir] and [enumeratorDir], both on
 * 127.0.0.1 (on phones: leave `bindIp` unset to bind every interface and find peers on the LAN).
 */
suspend fun runSurvey(supervisorDir: String, enumeratorDir: String, log: (String) -> Unit = ::println): SurveyResult =
    coroutineScope {
        val network = NetworkOptions(bindIp = "127.0.0.1")
        Node.open(supervisorDir).use { supervisor ->
            Node.open(enumeratorDir).use { enumerator ->
                // Open and create: the supervisor starts the survey.
                val survey = supervisor.createDocument()
                val households = survey.list("households")
                households.pushJson("""{"name":"Nkosi","size":4,"readings":[1.5]}""")
                supervisor.startNetwork(network)
                enumerator.startNetwork(network)

                // Invite and join: the enumerator's key bundle reaches the supervisor (a QR
                // code), the invite goes back the same way.
                survey.addMember(enumerator.keyBundle())
                val invite = survey.invite()
                val joined = enumerator.join(invite)
                awaitJson(joined) { it.contains("Nkosi") }
                log("enumerator joined: ${joined.toJson()}")

                // Observe one record: its value now, then its changes only. (A UI collects
                // `survey.changes(path)`; here the subscription is made first so that no change
                // can slip in before it.)
                val firstRecord = listOf(PathSegment.Key("households"), PathSegment.Index(0u))
                val subscription = survey.observePath(firstRecord)
                val observed = async { subscription.use { it.asFlow().take(2).toList() } }

                // Edit: the enumerator adds notes to the record, as a collaborative text.
                val record = joined.list("households").getMap(0u)!!
                record.insertText("notes").insert(0u, "Roof leaks")
                val seen = withTimeout(30_000) { observed.await() }
                log("supervisor observed: ${seen.map { it::class.simpleName }}")

                // Go offline: the enumerator keeps working; edits wait in the outbox.
                enumerator.stopNetwork()
                joined.list("households").pushJson("""{"name":"Otieno","size":2,"readings":[]}""")
                val offline = joined.syncStatusFlow().first()
                log("offline: online=${offline.online}, pending=${offline.pendingLocalOps}")

                // Sync: back online, the offline edit reaches the supervisor by itself.
                enumerator.startNetwork(network)
                awaitJson(survey) { it.contains("Otieno") }
                awaitJson(joined) { it == survey.toJson() }
                log("in sync: ${survey.toJson()}")

                val result = SurveyResult(survey.toJson(), joined.toJson(), seen.size)
                enumerator.shutdown()
                supervisor.shutdown()
                result
            }
        }
    }

/** Waits (up to 30 s) until the document's JSON satisfies [ok]. */
private suspend fun awaitJson(document: Document, ok: suspend (String) -> Boolean) {
    withTimeout(30_000) {
        document.changes().first { ok(document.toJson()) }
    }
}

/** `kotlin -cp ... org.fieldsync.samples.survey.SurveyKt`: runs the sample in two temp dirs. */
fun main() = runBlocking {
    val root = kotlin.io.path.createTempDirectory("fieldsync-survey").toFile()
    try {
        val result = runSurvey(root.resolve("supervisor").path, root.resolve("enumerator").path)
        println("supervisor and enumerator agree: ${result.supervisorJson == result.enumeratorJson}")
    } finally {
        root.deleteRecursively()
    }
}
