#!/usr/bin/perl
# README code is compiled code: every ```kotlin / ```swift block in the READMEs must be an
# excerpt of a source file that `make test` compiles and runs (the survey samples, the tests,
# the wrappers): its lines, trimmed and without blank lines, must appear consecutively in one
# of them. A block preceded by `<!-- not compiled: REASON -->` is skipped (Gradle DSL,
# android.* code the JVM tests cannot compile); the reason is printed.
#
#   perl scripts/check-snippets.pl            (from the repository root; exit 1 on a mismatch)
use strict;
use warnings;
use File::Find;

my %sources = (
    kotlin => [qw(android/samples android/src/main/kotlin android/src/test/kotlin)],
    swift  => [qw(ios/Samples ios/Sources/FieldSync ios/Tests)],
);
my %ext = (kotlin => qr/\.kt$/, swift => qr/\.swift$/);
my @readmes = qw(README.md android/README.md ios/README.md);

sub norm { my @l = grep { length } map { s/^\s+|\s+$//gr } split /\n/, shift; return @l }

my %corpus;    # language -> [ [file, [normalized lines]] ]
for my $lang (keys %sources) {
    find(sub {
        return unless -f && $_ =~ $ext{$lang} && $File::Find::name !~ m{/Generated/};
        open(my $fh, '<', $_) or die "$File::Find::name: $!\n";
        local $/;
        push @{ $corpus{$lang} }, [$File::Find::name, [norm(<$fh>)]];
    }, grep { -d } @{ $sources{$lang} });
}

sub found_in {
    my ($lang, @want) = @_;
    for my $src (@{ $corpus{$lang} }) {
        my ($name, $lines) = @$src;
        for my $i (0 .. @$lines - @want) {
            my $ok = 1;
            for my $j (0 .. $#want) {
                if ($lines->[$i + $j] ne $want[$j]) { $ok = 0; last }
            }
            return $name if $ok;
        }
    }
    return undef;
}

my ($checked, $skipped, $bad) = (0, 0, 0);
for my $readme (@readmes) {
    open(my $fh, '<', $readme) or die "$readme: $!\n";
    my @lines = <$fh>;
    for (my $i = 0; $i < @lines; $i++) {
        next unless $lines[$i] =~ /^```(kotlin|swift)\s*$/;
        my $lang = $1;
        my $start = $i + 1;
        my $body = '';
        for ($i++; $i < @lines && $lines[$i] !~ /^```\s*$/; $i++) { $body .= $lines[$i] }
        my $prev = $start >= 2 ? $lines[$start - 2] : '';
        if ($prev =~ /<!-- not compiled: (.*?) -->/) {
            $skipped++;
            print "check-snippets: $readme:$start not compiled ($1)\n";
            next;
        }
        $checked++;
        my @want = norm($body);
        if (my $where = found_in($lang, @want)) {
            print "check-snippets: $readme:$start is in $where\n";
        } else {
            $bad++;
            print STDERR "check-snippets: $readme:$start ($lang) is not an excerpt of any compiled source\n";
        }
    }
}
print "check-snippets: $checked blocks compiled, $skipped marked not compiled, $bad stale\n";
exit($bad ? 1 : 0);
