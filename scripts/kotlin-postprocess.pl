#!/usr/bin/perl
# One fix to the UniFFI 0.32 generated Kotlin, applied wherever it is generated
# (scripts/generate-bindings.sh, scripts/kotlin-test.sh, android/build.gradle.kts):
#
#   perl scripts/kotlin-postprocess.pl fieldsync_ffi.kt      (rewrites the file in place)
#
# An error variant's `message` is generated as its fields ("reason=document 3f2a… not found");
# it becomes the Rust message ("not found: document 3f2a…"), which `toString()` already returns
# (exported `Display`), so `e.message`, `e.localizedMessage` and stack traces read the same.
# Fails loudly if a UniFFI update changes the template.
use strict;
use warnings;

my $file = shift or die "usage: $0 fieldsync_ffi.kt\n";
open(my $in, '<', $file) or die "$file: $!\n";
local $/;
my $s = <$in>;
close($in);

my $n = ($s =~ s{(override val message\n\s+get\(\) = )"reason=\$\{ `reason` \}"}{$1toString()}g);
$n >= 5 or die "$file: FieldSyncException variants' `message` not found ($n)\n";

open(my $out, '>', $file) or die "$file: $!\n";
print $out $s;
close($out);
