# fsauth: build the nginx dynamic module against Debian's nginx-dev tree,

SHELL := /bin/bash
# build fsauthctl, run the tests.  See README.md.

NGINX_SRC ?= /usr/share/nginx/src
BUILD     ?= build
CC        ?= cc
PREFIX    ?= /usr/local
MODDIR    ?= /usr/lib/nginx/modules
MANDIR    ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

MODULE    = $(BUILD)/ngx_http_fsauth_module.so
CTL       = $(BUILD)/fsauthctl
NGXB      = $(BUILD)/nginx-src

# rules/: the rules both programs compile (token, grants, decision,
# limits, Redis key names)
RULES     = $(wildcard rules/*.c rules/*.h)
MOD_SRCS  = $(wildcard ngx_http_fsauth_module/*.c ngx_http_fsauth_module/*.h) \
            $(RULES)
CTL_SRCS  = $(wildcard fsauthctl/*.c fsauthctl/*.h) $(RULES)

# the flags Debian builds nginx and its packaged modules with (nginx -V);
# without them nginx's configure compiles the module with -O only
NGX_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
NGX_LD_OPT ?= -Wl,-z,relro -Wl,-z,now -fPIC

# CPPFLAGS, CFLAGS and LDFLAGS (empty unless given, e.g. from
# dpkg-buildflags) are added to fsauthctl's compile and link
CTL_CFLAGS ?= -O2 -g -Wall -Wextra -Werror -std=c99 -D_GNU_SOURCE
# "fsauthctl sync" reads the FacturaScripts tables: MariaDB Connector/C
# (MySQL and MariaDB) and libpq (PostgreSQL)
PKG_CONFIG ?= pkg-config
CTL_DBLIBS = libmariadb libpq
CTL_LIBS   = -lhiredis -ljansson -lcrypto \
             $(shell $(PKG_CONFIG) --libs $(CTL_DBLIBS))
CTL_INCS   = $(shell $(PKG_CONFIG) --cflags $(CTL_DBLIBS))

# --tls needs hiredis_ssl (hiredis 1.x: Debian 13 on); without it fsauthctl
# builds and refuses --tls with a message
HIREDIS_SSL ?= $(shell printf '\043include <hiredis/hiredis.h>\n\043include <hiredis/hiredis_ssl.h>\nint main(void) { return redisInitiateSSL((void *) 0, (void *) 0); }\n' \
    | $(CC) -x c - -o /dev/null -lhiredis_ssl -lhiredis -lssl -lcrypto \
    >/dev/null 2>&1 && echo yes)
ifeq ($(HIREDIS_SSL),yes)
CTL_CFLAGS += -DFSAUTHCTL_TLS=1
CTL_LIBS   := -lhiredis_ssl -lssl $(CTL_LIBS)
endif

.PHONY: all module fsauthctl test demo install install-fsauthctl clean

all: module fsauthctl

module: $(MODULE)

fsauthctl: $(CTL)

$(NGXB)/Makefile: config Makefile VERSION
	rm -rf $(NGXB)
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(NGXB)
	cd $(NGXB) && . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	    --add-dynamic-module=$(CURDIR) > configure.log \
	    || { cat configure.log; exit 1; }

$(MODULE): $(NGXB)/Makefile $(MOD_SRCS)
	$(MAKE) -C $(NGXB) -f objs/Makefile modules
	cp $(NGXB)/objs/ngx_http_fsauth_module.so $@

# "fsauthctl --version" prints the first line of VERSION, as the module's
# fsauth_build_info does
CTL_VERSION = $(shell sed -n '1{s/[^0-9A-Za-z.~+-]//g;p;}' VERSION)

$(CTL): $(CTL_SRCS) VERSION
	mkdir -p $(BUILD)
	$(CC) $(CPPFLAGS) $(CTL_CFLAGS) -Irules $(CTL_INCS) \
	    -DFSAUTHCTL_VERSION='"$(CTL_VERSION)"' $(CFLAGS) $(LDFLAGS) -o $@ \
	    $(filter %.c,$(CTL_SRCS)) $(CTL_LIBS)

test:
	./util/test.sh

demo:
	./util/demo.sh

install: all install-fsauthctl
	install -d $(DESTDIR)$(MODDIR)
	install -m 644 $(MODULE) $(DESTDIR)$(MODDIR)/

install-fsauthctl: $(CTL)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(CTL) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 docs/fsauthctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 completion/fsauthctl.bash \
	    $(DESTDIR)$(BASHCOMPDIR)/fsauthctl

clean:
	rm -rf $(BUILD)
