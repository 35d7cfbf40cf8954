-- An OpenResty-style implementation of the fsauth check, written only as
-- a yardstick for bench/: lua-resty-redis (Debian: lua-nginx-redis),
-- resty.sha256 + resty.string (Debian: lua-nginx-string), a
-- lua_shared_dict cache holding each record as a short string that is
-- tested without decoding, one HGETALL per miss.  Same Redis schema and same decisions as the module for the
-- requests the benchmarks send (token headers, global key, unknown /
-- disabled key -> 401, resource grants -> 403).  It does not implement
-- the ban, activity tracking, the kill switch, lookup sharing or the
-- path checks of the README's Resource section.
--
-- nginx.conf:
--   lua_package_path "/path/to/bench/lua/?.lua;;";
--   lua_shared_dict fsauth_peer 10m;
--   init_by_lua_block { require("fsauth_peer").configure{ ... } }
--   location /api/ { access_by_lua_block { require("fsauth_peer").check() } }

local function need(a, b)
    local ok, m = pcall(require, a)
    if ok then
        return m
    end
    return require(b)
end

-- OpenResty names first, then the Debian package names
local redis = need("resty.redis", "nginx.redis")
local sha256 = need("resty.sha256", "nginx.sha256")
local str = need("resty.string", "nginx.string")
local cjson = require "cjson.safe"      -- error bodies only

local ngx = ngx
local byte = string.byte
local find = string.find
local sub = string.sub
local type = type

local _M = {}

local conf = {
    redis_host = "127.0.0.1",
    redis_port = 6379,
    prefix = "fsauth:",
    global_key = nil,
    ttl = 60,
    negative_ttl = 10,
    timeout = 500,
    dict = "fsauth_peer",
}

local bodies = {}

function _M.configure(c)
    for k, v in pairs(c) do
        conf[k] = v
    end
    local function body(msg)
        return cjson.encode({ status = "error", message = msg })
    end
    bodies[401] = body("Invalid auth token")
    bodies[403] = body("Forbidden")
    bodies[503] = body("Authentication service unavailable")
end

local function deny(status)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Content-Length"] = #bodies[status]
    ngx.header["Cache-Control"] = "no-store"
    if status == 401 then
        ngx.header["WWW-Authenticate"] = 'Token realm="FacturaScripts API"'
    end
    ngx.print(bodies[status])
    return ngx.exit(status)
end

local function valid(token)
    local n = #token
    if n == 0 or n > 99 or token == "0" then
        return false
    end
    for i = 1, n do
        local c = byte(token, i)
        if c < 0x21 or c > 0x7e then
            return false
        end
    end
    return true
end

-- the segment after /api/<version>/ in the raw path
local function resource()
    local uri = ngx.var.request_uri
    local q = find(uri, "?", 1, true)
    if q then
        uri = sub(uri, 1, q - 1)
    end
    local _, e = find(uri, "/api/[^/]+/")
    if not e then
        return ""
    end
    local s = find(uri, "/", e + 1, true)
    return sub(uri, e + 1, s and s - 1 or #uri)
end

-- The cached form of a key record, cheap to test without decoding:
--   <enabled 0|1><fullaccess 0|1>;<resource>=<mask>;<resource>=<mask>;...
-- with mask a hexadecimal digit (1 get, 2 post, 4 put, 8 delete); "-"
-- for an unknown token.
local word_bit = { get = 1, post = 2, put = 4, delete = 8 }
local method_bit = { GET = 1, POST = 2, PUT = 4, PATCH = 4, DELETE = 8 }
local hexdigit = "0123456789abcdef"

local function record(reply)
    local n = #reply
    if n == 0 then
        return "-"
    end
    local id, enabled, full = nil, "0", "0"
    local grants = { ";" }
    for i = 1, n, 2 do
        local k, v = reply[i], reply[i + 1]
        if k == "id" then
            id = tonumber(v)
        elseif k == "enabled" then
            enabled = (v == "1") and "1" or "0"
        elseif k == "fullaccess" then
            full = (v == "1") and "1" or "0"
        elseif sub(k, 1, 4) == "res:" and #k > 4 then
            local m = 0
            for w in v:gmatch("[^,%s]+") do
                local b = word_bit[w]
                if b and m % (2 * b) < b then
                    m = m + b
                end
            end
            grants[#grants + 1] = sub(k, 5) .. "=" .. sub(hexdigit, m + 1, m + 1)
                                  .. ";"
        end
    end
    if not id or id <= 0 then
        return "-"
    end
    return enabled .. full .. table.concat(grants)
end

-- the cached form of the token's record ("-": unknown), or nil on failure
local function lookup(hex)
    local dict = ngx.shared[conf.dict]
    local v = dict:get(hex)
    if v then
        return v
    end

    local red = redis:new()
    red:set_timeout(conf.timeout)
    local ok, err = red:connect(conf.redis_host, conf.redis_port)
    if not ok then
        ngx.log(ngx.ERR, "fsauth_peer: redis connect: ", err)
        return nil
    end
    local reply
    reply, err = red:hgetall(conf.prefix .. "key:" .. hex)
    if type(reply) ~= "table" then
        ngx.log(ngx.ERR, "fsauth_peer: redis hgetall: ", err)
        red:close()
        return nil
    end
    red:set_keepalive(10000, 64)

    v = record(reply)
    dict:set(hex, v, v == "-" and conf.negative_ttl or conf.ttl)
    return v
end

function _M.check()
    -- (ngx.var gives the first of repeated headers; the module refuses
    -- a repeated token header, which the benchmarks never send)
    local token = ngx.var.http_x_auth_token
    if token == nil then
        token = ngx.var.http_token
    end
    if token == nil or not valid(token) then
        return deny(401)
    end

    if token == conf.global_key then
        return
    end

    local s = sha256:new()
    s:update(token)
    local v = lookup(str.to_hex(s:final()))
    if v == nil then
        return deny(503)
    end
    if byte(v, 1) ~= 49 then         -- "-" (unknown) or "0" (disabled)
        return deny(401)
    end

    local res = resource()
    if res == "" or byte(v, 2) == 49 then
        return
    end
    local bit = method_bit[ngx.req.get_method()]
    local p = find(v, ";" .. res .. "=", 3, true)
    if not bit or not p then
        return deny(403)
    end
    local m = tonumber(sub(v, p + #res + 2, p + #res + 2), 16)
    if m % (2 * bit) < bit then
        return deny(403)
    end
end

return _M
