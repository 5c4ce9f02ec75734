#!/usr/bin/perl
# Two fixes to the UniFFI 0.32 generated Swift, applied by scripts/generate-bindings.sh (so the
# committed Swift is exactly what generation produces, checked by `make bindings-check`):
#
#   perl scripts/swift-postprocess.pl FieldSync.swift     (rewrites the file in place)
#
# A. Task cancellation reaches the Rust future. uniffi-bindgen's Swift template awaits a Rust
# future without a cancellation handler, so a cancelled Task kept waiting (Kotlin's template
# already frees the future on cancellation). Three rewrites, each required to match exactly
# (the script fails loudly when a UniFFI update changes the template):
#  1. `uniffiRustCallAsync` takes an optional `cancelFunc` and awaits each poll inside
#     `withTaskCancellationHandler`; cancelling the task calls
#     `ffi_<crate>_rust_future_cancel_<type>`, which wakes the poll and drops the Rust future
#     (the SDK's task behind it is aborted at its next await).
#  2. Every call site of a throwing async function passes its `rust_future_cancel` function.
#     Non-throwing ones (subscriptions' `next()`, which end through their own `cancel()`) do not:
#     their `try!` could not carry the error.
#  3. A cancelled call throws `CancellationError()` instead of `fatalError`.
use strict;
use warnings;

my $file = shift or die "usage: $0 FieldSync.swift\n";
open(my $in, '<', $file) or die "$file: $!\n";
local $/;
my $s = <$in>;
close($in);

my $n;

# 1. the helper's signature and poll loop
$n = ($s =~ s{
    (fileprivate\ func\ uniffiRustCallAsync<F,\ T>\(\n
     \s+rustFutureFunc:[^\n]*\n
     \s+pollFunc:[^\n]*\n
     \s+completeFunc:[^\n]*\n
     (\s+)freeFunc:\ \(UInt64\)\ ->\ \(\),\n)
}{$1$2cancelFunc: (\@convention(c) (UInt64) -> ())? = nil,\n}x);
$n == 1 or die "$file: uniffiRustCallAsync signature not found ($n)\n";

$n = ($s =~ s{
    ^([ \t]+)pollResult\ =\ await\ withUnsafeContinuation\ \{\n
    (.*?)\n
    \1\}\n
}{
    my ($ind, $body) = ($1, $2);
    $body =~ s/^/    /mg;
    "${ind}pollResult = await withTaskCancellationHandler {\n"
      . "${ind}    await withUnsafeContinuation {\n$body\n${ind}    }\n"
      . "${ind}} onCancel: {\n${ind}    cancelFunc?(rustFuture)\n${ind}}\n"
}xsme);
$n == 1 or die "$file: poll loop of uniffiRustCallAsync not found ($n)\n";

# 2. call sites of throwing async functions
$n = ($s =~ s{
    (\n(\s+)freeFunc:\ ffi_(\w+)_rust_future_free_(\w+),\n
     \s+liftFunc:[^\n]*\n
     \s+errorHandler:\ (?!nil)[^\n]*\n)
}{
    my ($all, $ind, $crate, $ty) = ($1, $2, $3, $4);
    $all =~ s/(\n\s+freeFunc:[^\n]*\n)/$1${ind}cancelFunc: ffi_${crate}_rust_future_cancel_${ty},\n/;
    $all
}gxe);
$n >= 1 or die "$file: no throwing async call site found\n";

# 3. cancelled status
$n = ($s =~ s{fatalError\("Cancellation not supported yet"\)}{throw CancellationError()});
$n == 1 or die "$file: CALL_CANCELLED case not found ($n)\n";

# B. Swift naming for the error's cases. UniFFI keeps an error enum's Rust variant names
# (`FieldSyncError.NotFound`) where Swift expects lowerCamelCase (`.notFound`, like every other
# generated enum). Every variant of `enum FieldSyncError` is renamed at its declaration and at
# each `.Variant(` use.
$s =~ m{\nenum FieldSyncError: [^\n]*\{\n(.*?)\n\}\n}s
  or die "$file: enum FieldSyncError not found\n";
my @variants = ($1 =~ m{^\s*case (\w+)\(}mg);
@variants >= 5 or die "$file: FieldSyncError has too few cases (@variants)\n";
for my $v (@variants) {
    my $lower = lcfirst($v);
    # a keyword (`internal`) is declared in backticks; after a dot it needs none
    my $decl = $lower =~ /^(internal|public|private|default|case|class|func|import|init|let|var|return|throw|throws|try|where|while|in|is|as|self|super|static|struct|enum|extension|protocol|operator|subscript|deinit|fileprivate|open|repeat|switch|break|continue|do|else|fallthrough|for|guard|if|defer|catch)$/ ? "`$lower`" : $lower;
    $n = ($s =~ s{\bcase $v\(}{case $decl(}g);
    $n == 1 or die "$file: case $v declared $n times\n";
    $n = ($s =~ s{\.$v\(}{.$lower(}g);
    $n >= 2 or die "$file: .$v( used $n times (read and write expected)\n";
}

open(my $out, '>', $file) or die "$file: $!\n";
print $out $s;
close($out);
