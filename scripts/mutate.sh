#!/usr/bin/env bash
# mutate.sh breaks behaviours of hotpot on purpose, one at a time, and
# checks that the tests catch each break. A break is one edit of one
# line: in FILE, the text OLD (which must occur exactly once) becomes NEW;
# then the tests TESTS of PACKAGE run, and must fail. The file is always
# restored, whatever happens (Ctrl-C included).
#
#   bash scripts/mutate.sh            every break
#   bash scripts/mutate.sh keepalive  the breaks whose name contains "keepalive"
#
# Each line of the report is "caught NAME by TESTS", "MISSED NAME" (the
# tests passed with the break in place), "STALE NAME" (OLD is not in the
# file once: the code moved on, update the break) or "NOBUILD NAME" (the
# break does not compile, so it proves nothing). It exits 1 unless every
# break was caught. Run it on a tree whose tests pass: a test that fails
# anyway counts as a catch. It is run by hand, not in CI: some breaks take
# the tests to their deadlines, and the cmd/server ones build the server.
set -uo pipefail
cd "$(dirname "$0")/.."

filter=${1:-}
caught=0 failed=0
file="" backup=""
out=$(mktemp)

restore() {
	if [[ -n $backup ]]; then
		cp "$backup" "$file"
		rm -f "$backup"
		backup=""
	fi
}
trap 'restore; rm -f "$out"' EXIT
trap 'exit 130' INT TERM

# brk NAME FILE OLD NEW PACKAGE TESTS
brk() {
	local name=$1 old=$3 new=$4 pkg=$5 tests=$6
	[[ -n $filter && $name != *"$filter"* ]] && return
	file=$2
	local n
	n=$(OLD=$old perl -0777 -ne '$n = () = /\Q$ENV{OLD}\E/g; print $n' "$file")
	if [[ $n != 1 ]]; then
		printf 'STALE   %-32s %s: the text to break occurs %s times\n' "$name" "$file" "$n"
		failed=$((failed + 1))
		return
	fi
	backup=$(mktemp)
	cp "$file" "$backup"
	OLD=$old NEW=$new perl -0777 -pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$file"
	if go test -count=1 -timeout 5m -run "$tests" $pkg >"$out" 2>&1; then
		printf 'MISSED  %-32s %s: %s passed\n' "$name" "$pkg" "$tests"
		failed=$((failed + 1))
	elif grep -q -e '\[build failed\]' -e '\[setup failed\]' "$out"; then
		printf 'NOBUILD %-32s %s\n' "$name" "$(grep -m1 -e '\.go:[0-9]*:[0-9]*: ' "$out")"
		failed=$((failed + 1))
	else
		local by
		by=$(grep -o -e '--- FAIL: [^ /]*' "$out" | cut -d' ' -f3 | sort -u | paste -sd' ')
		printf 'caught  %-32s by %s\n' "$name" "${by:-$(grep -m1 -e '^panic: ' "$out")}"
		caught=$((caught + 1))
	fi
	restore
}

S=./internal/sockets H=./internal/httpapi E=./internal/events M=./cmd/server

brk echo-reencodes internal/sockets/agent.go \
	'a.send(bytes.Clone(frame))' \
	'if f, err := a.codec.Encode(env); err == nil { a.send(f) }' \
	$S 'TestEchoIsByteForByte'
brk tcp-limit-off-by-one internal/sockets/frame.go \
	'uint64(n) > uint64(max)' 'uint64(n) >= uint64(max)' \
	$S 'TestFrameSizeBoundary'
brk ws-limit-off-by-one internal/sockets/wslink.go \
	'if h.Length > int64(l.maxBytes-len(fb.b)) {' 'if h.Length >= int64(l.maxBytes-len(fb.b)) {' \
	$S 'TestFrameSizeBoundary'
brk send-limit-off-by-one internal/sockets/send.go \
	'len(frame) > a.maxFrame' 'len(frame) >= a.maxFrame' \
	$S 'TestFrameSizeBoundary'
brk replies-overflow-queue internal/sockets/agent.go \
	'a.awaitRoom()
	fb, err' 'fb, err' \
	$S 'TestPipelinedEchoesWaitForTheirReplies'
brk replies-take-whole-queue internal/sockets/send.go \
	'q.len() >= (maxFrames+1)/2' 'q.len() > maxFrames' \
	$S 'TestPipelinedEchoesWaitForTheirReplies'
brk write-timeout-not-slow internal/sockets/send.go \
	'if errors.Is(err, os.ErrDeadlineExceeded) {
		a.recordSlowConsumer()' 'if errors.Is(err, os.ErrDeadlineExceeded) {
		_ = a.recordSlowConsumer' \
	$S 'TestUnreadWriteTimeoutIsSlowConsumer'
brk pong-timeout-not-slow internal/sockets/agent.go \
	'a.recordSlowConsumer()' '_ = a.recordSlowConsumer' \
	$S 'TestUnreadWriteTimeoutIsSlowConsumer'
brk keepalive-decodable-only internal/sockets/agent.go \
	'if a.received() {
		a.handle(fb.b)' \
	'if _, err := a.codec.Decode(fb.b); err != nil {
		a.handle(fb.b)
	} else if a.received() {
		a.handle(fb.b)' \
	$S 'TestEveryFrameCountsAsActivity'
brk keepalive-kick-log internal/sockets/agent.go \
	'"closing idle agent", "agent", a.id, "last_receive", lastReceive' '"closing idle agent", "agent", a.id' \
	$S 'TestKeepaliveKickIsLogged'
brk keepalive-never-pings internal/sockets/agent.go \
	'func (a *agent) Ping() { a.sendControl(a.fixed.ping) }' 'func (a *agent) Ping() {}' \
	$S 'TestKeepaliveTimeline'
brk ws-binary-as-text internal/sockets/wslink.go \
	'opcode = wsproto.OpBinary' 'opcode = wsproto.OpText' \
	$S 'TestFrameTypes'
brk ws-slow-consumer-1000 internal/sockets/wslink.go \
	'case ReasonSlowConsumer, ReasonTokenExpired, ReasonRateLimited:' 'case ReasonTokenExpired, ReasonRateLimited:' \
	$S 'TestSlowConsumerWebSocket'
brk ws-ping-unanswered internal/sockets/wslink.go \
	'_, err := l.writeControl(wsproto.OpPong, payload, writeTimeout)' 'var err error' \
	$S 'TestWebSocketPing'
brk ws-ping-not-rate-limited internal/sockets/wslink.go \
	'if h.Opcode != wsproto.OpClose && l.received != nil' 'if h.Opcode == wsproto.OpPong && l.received != nil' \
	$S 'TestRateLimitCountsControlFrames'
brk ws-unmasked-accepted internal/sockets/wslink.go \
	'case !h.Masked:' 'case !h.Masked && false:' \
	$S 'TestWebSocketProtocolViolations'
brk ws-text-not-utf8-accepted internal/sockets/wslink.go \
	'if text && !utf8.Valid(fb.b) {' 'if text && false && !utf8.Valid(fb.b) {' \
	$S 'TestWebSocketProtocolViolations'
brk ws-long-control-accepted internal/wsproto/wsproto.go \
	'case h.Opcode >= OpClose && b[1]&0x7f > MaxControlPayload:' 'case false:' \
	$S 'TestWebSocketProtocolViolations'
brk ws-close-not-echoed internal/sockets/wslink.go \
	'l.writeControl(wsproto.OpClose, payload, closeGrace) // echoes' '// echoes' \
	$S 'TestWebSocketClientClose'
brk ws-fragments-not-assembled internal/sockets/wslink.go \
	'		if !h.Fin {
			continue
		}' '' \
	$S 'TestWebSocketFragments'
brk idle-stack-kept internal/sockets/agent.go \
	'if a.lastReceive.Load()-before > int64(freshAfter) {' 'if a.lastReceive.Load()-before > int64(time.Hour) {' \
	$S 'TestIdleAgentStackShrinks'
brk frame-buffer-dropped internal/sockets/tcp.go \
	'frame, err := readPayload(l.br, fb.b, n)' 'frame, err := readPayload(l.br, fb.b, n); fb.b = frame' \
	$S 'TestFrameBufferAfterFailedRead'
brk xff-first-line-only internal/sockets/identity.go \
	'range r.Header.Values("X-Forwarded-For")' 'range []string{r.Header.Get("X-Forwarded-For")}' \
	$S 'TestRemoteAddr'
brk any-origin-by-default internal/sockets/wshandshake.go \
	'if strings.EqualFold(r.Host, u.Host) {' 'if len(patterns) == 0 || strings.EqualFold(r.Host, u.Host) {' \
	$S 'TestSameOriginByDefault'
brk tcp-codec-ignored internal/sockets/tcp.go \
	'codec.Lookup(s.cfg.TCPCodec)' 'codec.Lookup("json")' \
	$S 'TestTCPCodecs|TestEchoIsByteForByte'
brk drain-takes-new-calls internal/sockets/calls.go \
	'if a.srv.draining() {' 'if false {' \
	$S 'TestDrain'
brk drain-ignores-pending-calls internal/sockets/server.go \
	'for s.pendingCalls.Load() > 0 {' 'for false {' \
	$S 'TestDrain'
brk replay-cut-by-new-events internal/events/subscription.go \
	's.maxLag = l.next - s.cursor + l.halfRetention()' 's.maxLag = max(l.next-s.cursor, l.halfRetention())' \
	"$E $H" 'TestResumeCatchUp|TestEventsSlowSubscriber'
brk replay-from-oldest-cut internal/events/subscription.go \
	's.cursor, s.fromOldest = max(s.cursor, l.first), false' 's.fromOldest = false' \
	$E 'TestResumeFromOldestWhileEventsArrive'
brk broadcast-async-delivers-first internal/httpapi/broadcast.go \
	'if err := a.node.BroadcastAsync(req.Type, data); err != nil {' \
	'if _, err := a.node.Broadcast(r.Context(), req.Type, data); err != nil {' \
	$H 'TestBroadcastAsyncAnswersFirst'
brk call-default-60s internal/httpapi/agents.go \
	'defaultCallTimeoutMS = 5000' 'defaultCallTimeoutMS = 60000' \
	$H 'TestCallDefaultTimeout'
brk call-timeout-ms-ignored internal/httpapi/agents.go \
	'timeout = *req.TimeoutMs' 'timeout = defaultCallTimeoutMS' \
	$H 'TestCallFailures'
brk draining-call-504 internal/httpapi/problem.go \
	'return http.StatusServiceUnavailable, "the node is shutting down", Problem{}' \
	'return http.StatusGatewayTimeout, "the node is shutting down", Problem{}' \
	$H 'TestCallWhileDraining|TestCallAtDrainTimeout'
brk jwt-any-hmac internal/auth/auth.go \
	'jwt.WithValidMethods([]string{"HS256"})' 'jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"})' \
	"$S $H" 'TestTokenRules|TestClientTokens'
brk sse-ping-30s internal/httpapi/router.go \
	'const ssePingInterval = 15 * time.Second' 'const ssePingInterval = 30 * time.Second' \
	$H 'TestEventsPingDefault'
brk sse-ping-5s internal/httpapi/router.go \
	'const ssePingInterval = 15 * time.Second' 'const ssePingInterval = 5 * time.Second' \
	$H 'TestEventsPingDefault'
brk dev-mode-not-warned cmd/server/main.go \
	'log.Warn("no --jwt-secret: anonymous dev mode' 'log.Info("no --jwt-secret: anonymous dev mode' \
	$M 'TestDevModeIsLogged'
brk default-http-not-loopback internal/config/config.go \
	'HTTPAddr:            "127.0.0.1:8848",' 'HTTPAddr:            ":8848",' \
	$M 'TestNoFlags'
brk ask-known-peers-only internal/node/route.go \
	'p := n.peer(ctx, node)' 'p := n.peers.get(node)' \
	$M 'TestClusterDuplicateID'
brk handshake-version-header-dropped internal/sockets/wshandshake.go \
	'w.Header().Set("Sec-WebSocket-Version", "13")' '' \
	$S 'FuzzHandshakeMatchesLibrary'
brk nodes-set-untagged internal/pubsub/keys.go \
	'{ return "{" + k.prefix + "}:nodes" }' '{ return k.prefix + ":nodes" }' \
	./internal/pubsub 'TestRedisConformance'
brk keepalive-counts-while-behind internal/sockets/agent.go \
	'return max(a.lastReceive.Load(), a.caughtUp.Load())' 'return a.lastReceive.Load()' \
	$S 'TestNoKeepaliveTimeoutWhileTheNodeIsBehind'

brk cluster-subscribe-unsharded internal/pubsub/redis_subscribe.go \
	'return s.sub.SSubscribe(s.r.ctx, s.channels...)' 'return s.sub.Subscribe(s.r.ctx, s.channels...)' \
	./internal/pubsub 'TestRedisClusterConformance'
brk cluster-publish-unsharded internal/pubsub/redis_outbox.go \
	'return r.client.SPublish(' 'return r.client.Publish(' \
	./internal/pubsub 'TestRedisClusterConformance'
brk cluster-ready-pings-one internal/pubsub/redis.go \
	'ping = r.cluster.ping' '_ = r.cluster.ping' \
	./internal/pubsub 'TestRedisClusterMasterRestarted'
brk cluster-restart-unseen internal/pubsub/redis_cluster.go \
	'restarted = true' 'restarted = false' \
	$M 'TestClusterOnRedisCluster'
brk cluster-moved-ignored internal/pubsub/redis_subscribe.go \
	'case errors.As(err, &redisErr):' 'case false && errors.As(err, &redisErr):' \
	./internal/pubsub 'TestRedisClusterSlotMoved'
brk cluster-sunsubscribe-ignored internal/pubsub/redis_subscribe.go \
	'case m.Kind == "sunsubscribe":' 'case false:' \
	./internal/pubsub 'TestRedisClusterSlotMoved'
brk cluster-failover-stale-slots internal/pubsub/redis.go \
	'o.ClusterStateReloadInterval = clusterStateReload' '' \
	./internal/pubsub 'TestRedisClusterFailover'
brk outbox-counts-published-drops internal/node/stream.go \
	'if o.first < o.sendingEnd {' 'if false {' \
	./internal/node 'TestOutboxKeepsTheNewest'
brk redis-cluster-unnoticed internal/pubsub/redis_cluster.go \
	'strings.HasPrefix(err.Error(), "MOVED ")' 'strings.HasPrefix(err.Error(), "NEVER ")' \
	./internal/pubsub 'TestRedisClusterWithoutClusterFlag'

echo "$caught caught, $failed not"
[[ $failed == 0 ]]
