// Runs the survey sample (android/samples/survey/Survey.kt) as it is shipped.
package org.fieldsync

import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import org.fieldsync.samples.survey.runSurvey
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class SurveySampleTest {
    @Test
    fun theSurveySampleRunsAndBothDevicesAgree(): Unit = runBlocking {
        val root = Files.createTempDirectory("fieldsync-kt-survey").toFile()
        try {
            val log = mutableListOf<String>()
            val result = runSurvey(root.resolve("a").path, root.resolve("b").path) { log.add(it) }
            assertEquals(result.supervisorJson, result.enumeratorJson)
            assertTrue(result.supervisorJson, result.supervisorJson.contains("Roof leaks"))
            assertTrue(result.supervisorJson.contains("Otieno"))
            assertEquals(2, result.changesSeen)
            assertTrue(log.toString(), log.any { it.startsWith("offline: online=false, pending=") && !it.endsWith("=0") })
        } finally {
            root.deleteRecursively()
        }
    }
}
