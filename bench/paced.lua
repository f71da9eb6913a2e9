-- wrk script: each connection waits an exponentially distributed pause between its
-- response and its next request, so requests arrive spread out (close to Poisson) at a
-- chosen rate instead of as fast as the server answers. Mean pause from WRK_PAUSE_US.
local mean_ms = tonumber(os.getenv("WRK_PAUSE_US")) / 1000
math.randomseed(os.time())
function delay()
  return math.floor(-math.log(1 - math.random()) * mean_ms + math.random())
end
