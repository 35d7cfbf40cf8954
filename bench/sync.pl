# bench/sync.sh's measurements (see there).  Prints a Markdown table.

use strict;
use warnings;

use List::Util qw(sum);
use Time::HiRes qw(time);
use FsauthDB;
use FsauthTest qw(write_file);

my $n = $ENV{SYNC_KEYS} || 10000;
my $runs = $ENV{SYNC_RUNS} || 5;
my @engines = split ' ', ($ENV{SYNC_ENGINES} || 'mysql postgresql');
my $ctl = $ENV{FSAUTHCTL} or die "FSAUTHCTL is not set\n";
my $port = $ENV{REDIS_PORT} or die "REDIS_PORT is not set\n";

sub median {
    my @v = sort { $a <=> $b } @_;
    return $v[$#v / 2];
}

# one fsauthctl run: (seconds, its summary line)
sub pass {
    my ($db, $prefix) = @_;
    local $ENV{FSAUTHCTL_DB_PASSWORD} = $db->password;
    my $t0 = time;
    my $out = `$ctl -p $port --prefix $prefix sync --from '${\ $db->url}'`;
    my $t = time - $t0;
    die "fsauthctl sync failed ($?)\n" if $?;
    my ($summary) = $out =~ /^(\d+ created.*)$/m;
    return ($t, $summary);
}

print "| engine | keys | pass | seconds (median of $runs) | summary |\n";
print "|---|---|---|---|---|\n";

for my $engine (@engines) {
    my $db = FsauthDB->start($engine);
    my $prefix = "bench_sync_$engine:";

    # the keys and their grants, 1,000 rows a statement, from a file (too
    # long for a command line)
    my $sql = '';
    for (my $i = 1; $i <= $n; $i += 1000) {
        my $last = $i + 999 > $n ? $n : $i + 999;
        $sql .= 'INSERT INTO api_keys (id, apikey, creationdate, '
               . 'description, enabled, fullaccess, nick) VALUES '
               . join(', ', map { sprintf "(%d, 'sync%016d', '2024-01-31', "
                                        . "'bench key %d', true, false, "
                                        . "'bench')", $_, $_, $_ }
                            $i .. $last) . ";\n";
        $sql .= 'INSERT INTO api_access (idapikey, resource, allowget, '
               . 'allowpost, allowput, allowdelete) VALUES '
               . join(', ', map { ("($_, 'clientes', true, true, false, false)",
                                   "($_, 'facturas', true, false, false, false)",
                                   "($_, 'productos', true, true, true, true)") }
                            $i .. $last) . ";\n";
    }
    my ($rc, $out) = $db->run_file(write_file($db->dir . '/seed.sql', $sql));
    die "seeding $engine failed: $out\n" if $rc;

    my ($t, $s) = pass($db, $prefix);
    printf "| %s | %d | first (all created) | %.3f | %s |\n",
           $engine, $n, $t, $s;

    my @t;
    for (1 .. $runs) {
        ($t[@t], $s) = pass($db, $prefix);
    }
    printf "| %s | %d | steady (nothing changed) | %.3f | %s |\n",
           $engine, $n, median(@t), $s;

    @t = ();
    for my $r (1 .. $runs) {
        # 1% of the keys flip (disabled, then enabled again, ...)
        $db->sql('UPDATE api_keys SET enabled = '
               . ($r % 2 ? 'false' : 'true') . ' WHERE id % 100 = 0');
        ($t[@t], $s) = pass($db, $prefix);
    }
    printf "| %s | %d | changes (1%% of keys) | %.3f | %s |\n",
           $engine, $n, median(@t), $s;

    $db->stop;
    system("redis-cli -p $port --scan --pattern '$prefix*' "
         . "| xargs -r -n 1000 redis-cli -p $port DEL >/dev/null");
}
