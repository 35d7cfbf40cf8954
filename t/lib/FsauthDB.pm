package FsauthDB;

# Throwaway MariaDB and PostgreSQL servers for the tests of "fsauthctl
# sync": each in a temporary directory, on a private TCP port and unix
# socket, with a user "fsauth" that has a password and may SELECT the
# two FacturaScripts tables, nothing else.  The servers are the Debian
# packages mariadb-server and postgresql; PostgreSQL refuses to run as
# root, so under root it runs as the "postgres" user the package creates.
#
#   my $db = FsauthDB->start('mysql');    # or 'postgresql'
#   $db->sql("INSERT ...");               # as the administrator
#   $db->url, $db->password, $db->stop, $db->restart

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use FsauthTest qw(free_port write_file);

# the tables as FacturaScripts creates them (Core/Table/api_keys.xml and
# api_access.xml), without the foreign key of nick to users
my %schema = (
    mysql => <<'_SQL_',
CREATE TABLE api_keys (
    id INTEGER NOT NULL AUTO_INCREMENT,
    apikey VARCHAR(99) NOT NULL,
    creationdate DATE NOT NULL,
    description VARCHAR(150) NOT NULL,
    enabled TINYINT(1) NOT NULL,
    fullaccess TINYINT(1) DEFAULT 0,
    lastactivity DATETIME NULL,
    lastip VARCHAR(45) NULL,
    nick VARCHAR(50) NULL,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;
CREATE TABLE api_access (
    id INTEGER NOT NULL AUTO_INCREMENT,
    idapikey INTEGER NOT NULL,
    resource VARCHAR(100) NOT NULL,
    allowget TINYINT(1) NULL,
    allowpost TINYINT(1) NULL,
    allowput TINYINT(1) NULL,
    allowdelete TINYINT(1) NULL,
    CONSTRAINT api_access_pkey PRIMARY KEY (id),
    CONSTRAINT api_access_api FOREIGN KEY (idapikey) REFERENCES api_keys (id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT unique_api_access UNIQUE (idapikey, resource)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;
_SQL_
    postgresql => <<'_SQL_',
CREATE TABLE api_keys (
    id SERIAL NOT NULL,
    apikey CHARACTER VARYING(99) NOT NULL,
    creationdate DATE NOT NULL,
    description CHARACTER VARYING(150) NOT NULL,
    enabled BOOLEAN NOT NULL,
    fullaccess BOOLEAN DEFAULT false,
    lastactivity TIMESTAMP NULL,
    lastip CHARACTER VARYING(45) NULL,
    nick CHARACTER VARYING(50) NULL,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id)
);
CREATE TABLE api_access (
    id SERIAL NOT NULL,
    idapikey INTEGER NOT NULL,
    resource CHARACTER VARYING(100) NOT NULL,
    allowget BOOLEAN NULL,
    allowpost BOOLEAN NULL,
    allowput BOOLEAN NULL,
    allowdelete BOOLEAN NULL,
    CONSTRAINT api_access_pkey PRIMARY KEY (id),
    CONSTRAINT api_access_api FOREIGN KEY (idapikey) REFERENCES api_keys (id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT unique_api_access UNIQUE (idapikey, resource)
);
_SQL_
);

# why this machine cannot run the servers, or '' when it can
sub missing {
    my ($class, $engine) = @_;

    if ($engine eq 'mysql') {
        for my $p (qw(mariadbd mariadb-install-db mariadb)) {
            return "$p is not installed (mariadb-server)" unless _which($p);
        }
        return '';
    }

    return 'initdb is not installed (postgresql)' unless _pgbin('initdb');
    return 'psql is not installed (postgresql-client)' unless _which('psql');
    if ($> == 0 && !defined getpwnam('postgres')) {
        return 'PostgreSQL refuses root and there is no "postgres" user';
    }
    return '';
}

sub _which {
    my ($p) = @_;
    for my $d (split /:/, "$ENV{PATH}:/usr/sbin:/sbin") {
        return "$d/$p" if -x "$d/$p";
    }
    return undef;
}

sub _pgbin {
    my ($p) = @_;
    my @dirs = sort { ($b =~ /(\d+)/)[0] <=> ($a =~ /(\d+)/)[0] }
               glob '/usr/lib/postgresql/*/bin';
    for my $d (@dirs) {
        return "$d/$p" if -x "$d/$p";
    }
    return undef;
}

sub start {
    my ($class, $engine, %o) = @_;

    my $self = bless {
        engine => $engine,
        dir => tempdir('fsauth-db-XXXXXX', TMPDIR => 1, CLEANUP => 1),
        port => free_port(),
        password => 'pw-' . join('', map { ('a'..'z')[rand 26] } 1 .. 16),
        admin_password => 'adm-' . int(rand(1e9)),
        db => 'facturascripts',
    }, $class;

    chmod 0755, $self->{dir};

    if ($engine eq 'mysql') {
        $self->_mysql_init;
    } else {
        $self->_pg_init;
    }

    $self->_launch;
    $self->admin($self->_setup_sql);
    $self->sql($schema{$engine});
    $self->grant;

    return $self;
}

sub engine { $_[0]{engine} }
sub port { $_[0]{port} }
sub password { $_[0]{password} }
sub dir { $_[0]{dir} }
sub socket { $_[0]{engine} eq 'mysql' ? "$_[0]{dir}/mysql.sock" : $_[0]{dir} }

# the URL of fsauthctl sync: TCP, or the unix socket
sub url {
    my ($self, %o) = @_;
    my $db = $o{db} // $self->{db};
    my $user = $o{user} // 'fsauth';
    if ($o{unix}) {
        return $self->{engine} eq 'mysql'
            ? "mysql://$user\@unix:$self->{dir}/mysql.sock/$db"
            : "postgresql://$user\@unix:$self->{dir}/.s.PGSQL.$self->{port}/$db";
    }
    my $scheme = $self->{engine} eq 'mysql' ? 'mysql' : 'postgresql';
    return "$scheme://$user\@127.0.0.1:$self->{port}/$db";
}

sub _mysql_init {
    my ($self) = @_;
    my $d = $self->{dir};
    my @user = $> == 0 ? ('--user=root') : ();
    my $out = `mariadb-install-db --no-defaults --datadir=$d/data @user --auth-root-authentication-method=normal --skip-test-db 2>&1`;
    die "mariadb-install-db failed: $out" if $?;
}

sub _pg_init {
    my ($self) = @_;
    my $d = $self->{dir};
    mkdir "$d/data", 0700 or die "$d/data: $!";
    write_file("$d/pw", "$self->{admin_password}\n");
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres');
        chown $uid, $gid, $d, "$d/data", "$d/pw";
    }
    my $pid = $self->_spawn("$d/initdb.log", _pgbin('initdb'), '-D', "$d/data",
        '-U', 'admin', "--pwfile=$d/pw", '-A', 'scram-sha-256',
        '-E', 'UTF8', '--no-locale');
    waitpid $pid, 0;
    die "initdb failed: " . _slurp("$d/initdb.log") if $?;
}

# fork and exec, as the postgres user when PostgreSQL runs under root
sub _spawn {
    my ($self, $log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        if ($self->{engine} eq 'postgresql' && $> == 0) {
            my (undef, undef, $uid, $gid) = getpwnam('postgres');
            POSIX::setgid($gid);
            $) = "$gid $gid";
            POSIX::setuid($uid);
        }
        { exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }
    return $pid;
}

sub _launch {
    my ($self) = @_;
    my $d = $self->{dir};

    if ($self->{engine} eq 'mysql') {
        unlink "$d/mysql.sock";
        $self->{pid} = $self->_spawn("$d/mariadbd.log", _which('mariadbd'),
            '--no-defaults', "--datadir=$d/data", "--socket=$d/mysql.sock",
            "--port=$self->{port}", '--bind-address=127.0.0.1',
            "--pid-file=$d/mariadbd.pid", ($> == 0 ? '--user=root' : ()),
            '--innodb-buffer-pool-size=32M', '--skip-log-bin',
            '--innodb-flush-log-at-trx-commit=0', '--skip-name-resolve');
    } else {
        $self->{pid} = $self->_spawn("$d/postgres.log", _pgbin('postgres'),
            '-D', "$d/data", '-p', $self->{port}, '-k', $d,
            '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
            '-c', 'max_connections=20', '-c', 'shared_buffers=16MB');
    }

    my $deadline = time + 60;
    my $out = '';
    while (time < $deadline) {
        die "the $self->{engine} server exited:\n" . $self->log
            if waitpid($self->{pid}, WNOHANG) == $self->{pid};
        if (IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}")) {
            # accepting TCP is not yet accepting queries
            (my $rc, $out) = $self->_client('SELECT 1', db => '');
            return if $rc == 0;
        }
        sleep 0.1;
    }
    die "the $self->{engine} server did not answer: $out\n" . $self->log;
}

sub log {
    my ($self) = @_;
    my $f = $self->{engine} eq 'mysql' ? 'mariadbd.log' : 'postgres.log';
    return _slurp("$self->{dir}/$f");
}

sub _slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return <$fh>;
}

sub _setup_sql {
    my ($self) = @_;
    my $db = $self->{db};
    if ($self->{engine} eq 'mysql') {
        return "CREATE DATABASE $db; CREATE DATABASE fsold; "
             . "CREATE USER 'fsauth'\@'%' IDENTIFIED BY '$self->{password}'; "
             . "CREATE USER 'fsauth'\@'localhost' "
             . "IDENTIFIED BY '$self->{password}';";
    }
    return ["CREATE DATABASE $db", 'CREATE DATABASE fsold',
            "CREATE ROLE fsauth LOGIN PASSWORD '$self->{password}'"];
}

# the least-privilege grant of docs/operations.md: SELECT on the tables
sub grant {
    my ($self, $db) = @_;
    $db //= $self->{db};
    if ($self->{engine} eq 'mysql') {
        $self->admin(join ' ', map {
            "GRANT SELECT ON $db.$_ TO 'fsauth'\@'%'; "
          . "GRANT SELECT ON $db.$_ TO 'fsauth'\@'localhost';"
        } qw(api_keys api_access));
    } else {
        $self->sql("GRANT SELECT ON api_keys, api_access TO fsauth", db => $db);
    }
}

# SQL as the administrator, in the FacturaScripts database (or db => D);
# dies on an error, returns the output (tab-separated rows)
sub sql {
    my ($self, $sql, %o) = @_;
    my ($rc, $out) = $self->_client($sql, %o, admin => 1);
    die "$self->{engine}: $sql: $out" if $rc;
    return $out;
}

# SQL outside any database (CREATE DATABASE ...); a list for PostgreSQL,
# which runs each statement on its own
sub admin {
    my ($self, $sql) = @_;
    for my $s (ref $sql ? @$sql : ($sql)) {
        my ($rc, $out) = $self->_client($s, admin => 1, db => '');
        die "$self->{engine}: $s: $out" if $rc;
    }
}

# (exit code, output) of the command line client
sub _client {
    my ($self, $sql, %o) = @_;
    my $db = $o{db} // $self->{db};
    my @cmd;
    local $ENV{PGPASSWORD} = $self->{admin_password};
    if ($self->{engine} eq 'mysql') {
        @cmd = ('mariadb', '--no-defaults', '-S', "$self->{dir}/mysql.sock",
                '-u', 'root', '-N', '-B', '-r', ($db ne '' ? ($db) : ()),
                '-e', $sql);
    } else {
        @cmd = ('psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
                '-h', $self->{dir}, '-p', $self->{port}, '-U', 'admin',
                '-d', ($db ne '' ? $db : 'postgres'), '-c', $sql);
    }
    return _run(\@cmd, $o{stdin});
}

# SQL from a file, as psql -f or mariadb < file; (exit code, output)
sub run_file {
    my ($self, $file) = @_;
    local $ENV{PGPASSWORD} = $self->{admin_password};
    my @cmd = $self->{engine} eq 'mysql'
        ? ('sh', '-c', 'exec mariadb --no-defaults -S "$1" -u root -N -B -r "$2" < "$3"',
           'sh', "$self->{dir}/mysql.sock", $self->{db}, $file)
        : ('psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $self->{dir},
           '-p', $self->{port}, '-U', 'admin', '-d', $self->{db}, '-f', $file);
    return _run(\@cmd);
}

sub _run {
    my ($cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        { exec { $cmd->[0] } @$cmd; }
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# a clean shutdown, waited for
sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill $self->{engine} eq 'mysql' ? 'TERM' : 'INT', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub restart {
    my ($self) = @_;
    $self->stop;
    $self->_launch;
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    if ($self->{pid}) {
        kill 'KILL', $self->{pid};
        waitpid $self->{pid}, 0;
    }
}

1;
