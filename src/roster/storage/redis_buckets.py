"""The shared token buckets of the rate limiter in Redis (``ROSTER_REDIS_URL``): the same
lease as storage/rate_buckets.py, as one Lua script (atomic in Redis), so both stores
behave alike. A bucket is a hash that expires once it would be full again and then some,
so idle connections leave nothing behind."""

from __future__ import annotations

from typing import Any

from roster.storage.rate_buckets import Lease

PREFIX = "roster:rate:"

# KEYS[1]: the bucket; ARGV: rate, burst, want, now. Returns {granted, tokens left} (the
# second as a string: Redis truncates Lua numbers to integers on the way out).
_LEASE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local want, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
local avail = burst
if tokens ~= nil then
  avail = math.min(burst, tokens + math.max(0, now - at) * rate)
else
  at = now
end
local granted = math.max(1, math.min(want, math.floor(avail)))
local left = avail - granted
redis.call('HSET', KEYS[1], 't', tostring(left), 'at', tostring(math.max(at, now)))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst / rate + 60) * 1000))
return {granted, tostring(left)}
"""


class RedisBuckets:
    def __init__(self, url: str) -> None:
        # Imported here: only a deployment that sets ROSTER_REDIS_URL needs a Redis client.
        import redis  # noqa: PLC0415 (see above)

        self.client: Any = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script: Any = self.client.register_script(_LEASE)

    def lease(self, key: str, *, rate: float, burst: float, want: int, now: float) -> Lease:
        granted, tokens = self.script(keys=[PREFIX + key], args=[rate, burst, want, now])
        return Lease(int(granted), float(tokens))

    def close(self) -> None:
        self.client.close()
