// `/debug/flamegraph?profile=NAME` (goroutine, heap, allocs, block, mutex, threadcreate, or
// `profile&seconds=N` for CPU): one self-contained HTML page with an interactive flame graph, for
// operators without a Go toolchain to run `go tool pprof -http`. No external scripts, styles or fonts
// (a Content-Security-Policy forbids any), so it works offline and behind an airgap.
//
// Frames are absolutely positioned `<div class="frame">` elements carrying `data-name` (the function
// name, also their text) so tests and browser tools can find them. Click zooms into a frame (click an
// ancestor row or "reset" to zoom out), the search box highlights matching frames and sums their share,
// hovering shows the value, share and file:line, and a selector switches between sample types.
// `#search=text` in the URL presets the search (shareable links).
import Profiling

private let flameGraphProfiles: Set<String> = ["goroutine", "heap", "allocs", "block", "mutex", "threadcreate"]

extension PprofRouter {
    func flameGraphRoute(query: QueryParameters) -> RouteDecision {
        let name = query["profile"] ?? "goroutine"
        if name == "profile" {
            guard provider.supportsCPUProfile else {
                return .respond(pprofErrorResponse(status: 404, message: PprofError.unknownProfile.message))
            }
            let seconds = goParseInt(query["seconds"] ?? "") ?? 10
            guard seconds > 0, seconds <= maxProfileSeconds else {
                return .respond(pprofErrorResponse(
                    status: 400, message: "seconds must be between 1 and the server's limit of \(maxProfileSeconds)"))
            }
            let busy = pprofErrorResponse(
                status: 500, message: "Could not enable CPU profiling: cpu profiling already in use")
            return .run(WorkItem(lane: .exclusive(key: "cpu", busy: busy)) { [provider] cancel in
                flameGraphResponse(title: "CPU profile, \(seconds) s") {
                    try provider.cpuProfile(seconds: seconds, cancel: cancel)
                }
            })
        }
        guard flameGraphProfiles.contains(name) else {
            return .respond(pprofErrorResponse(status: 404, message: PprofError.unknownProfile.message))
        }
        return .run(WorkItem(lane: .shared(key: "profile:" + name)) { [provider] cancel in
            guard provider.profiles.contains(where: { $0.name == name }) else {
                return pprofErrorResponse(status: 404, message: PprofError.unknownProfile.message)
            }
            return flameGraphResponse(title: name) {
                try provider.render(name, debug: 0, gcFirst: false, cancel: cancel)
            }
        })
    }
}

private func flameGraphResponse(title: String, proto: () throws -> [UInt8]) -> HTTPResponse {
    let profile: Profile
    do {
        profile = try Profile(proto: proto())
    } catch let error as PprofError {
        return pprofErrorResponse(status: error.status, message: error.message)
    } catch {
        return pprofErrorResponse(status: 500, message: PprofError.collectionFailed.message)
    }
    let data = FlameGraphTree(profile: profile).json()
    return HTTPResponse(
        status: 200,
        headers: [
            ("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"),
            ("Content-Type", "text/html; charset=utf-8"),
            ("X-Content-Type-Options", "nosniff"),
        ],
        text: flameGraphPage(title: title, dataJSON: data))
}

func flameGraphPage(title: String, dataJSON: String) -> String {
    let links = ["goroutine", "heap", "allocs", "block", "mutex", "threadcreate"]
        .map { "<a href=\"?profile=\($0)\">\($0)</a>" }.joined(separator: " ")
    return """
    <!DOCTYPE html>
    <html><head><meta charset="utf-8"><title>flame graph: \(htmlEscape(title))</title>
    <style>
    body{font:13px/1.3 ui-monospace,monospace;margin:8px;color:#222;background:#fff}
    header{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin-bottom:8px}
    #graph{position:relative;width:100%;overflow:hidden}
    .frame{position:absolute;height:17px;box-sizing:border-box;border:1px solid #fff;overflow:hidden;
      white-space:nowrap;text-overflow:ellipsis;padding:0 3px;cursor:pointer;font-size:12px;line-height:15px}
    .frame.match{background:#e066ff!important}
    .frame.ancestor{opacity:.6}
    #tip{position:fixed;display:none;pointer-events:none;background:#ffffe8;border:1px solid #999;padding:4px 6px;
      max-width:70%;word-break:break-all;z-index:2}
    #status{color:#555}
    </style></head>
    <body>
    <header><strong>\(htmlEscape(title))</strong>
    <label>sample type <select id="type"></select></label>
    <input id="search" type="search" placeholder="search functions" size="28">
    <button id="reset" type="button">reset zoom</button>
    <span id="status"></span>
    <span>profiles: \(links) <a href="?profile=profile&amp;seconds=10">cpu (10 s)</a> · <a href="/debug/pprof/">/debug/pprof/</a></span>
    </header>
    <div id="graph"></div><div id="tip"></div>
    <script id="data" type="application/json">\(dataJSON)</script>
    <script>
    "use strict";
    (function(){
    const data = JSON.parse(document.getElementById("data").textContent);
    function build(raw, parent, depth){
      const node = {name: raw[0], loc: raw[1], v: raw[2], kids: [], parent: parent, depth: depth};
      for (const child of raw[3]) node.kids.push(build(child, node, depth + 1));
      return node;
    }
    const root = build(data.root, null, 0);
    let type = data.default, focus = root, query = "";
    const graph = document.getElementById("graph"), tip = document.getElementById("tip");
    const select = document.getElementById("type"), status = document.getElementById("status");
    data.types.forEach(function(t, i){
      const option = document.createElement("option");
      option.value = i; option.textContent = t[0] + " (" + t[1] + ")"; select.appendChild(option);
    });
    select.value = type;
    const rowHeight = 18, maxFrames = 20000;
    function format(value){
      const unit = data.types[type] ? data.types[type][1] : "";
      const scaled = function(v, steps){
        for (const s of steps) if (Math.abs(v) >= s[0]) return (v / s[0]).toFixed(2).replace(/\\.?0+$/, "") + s[1];
        return String(v);
      };
      if (unit === "bytes") return scaled(value, [[1<<30,"GB"],[1<<20,"MB"],[1<<10,"kB"],[1,"B"]]);
      if (unit === "nanoseconds") return scaled(value, [[1e9,"s"],[1e6,"ms"],[1e3,"µs"],[1,"ns"]]);
      return String(value) + (unit && unit !== "count" ? " " + unit : "");
    }
    function color(name){
      let h = 0; for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
      return "hsl(" + (10 + h % 45) + "," + (60 + h % 30) + "%," + (62 + (h >> 8) % 15) + "%)";
    }
    function matches(node){ return query !== "" && node.name.toLowerCase().indexOf(query) >= 0; }
    function render(){
      graph.textContent = "";
      const total = focus.v[type] || 0, width = graph.clientWidth || 1000;
      let count = 0, maxDepth = 0;
      function place(node, left, frameWidth, depth, cls){
        if (count >= maxFrames) return;
        count++;
        maxDepth = Math.max(maxDepth, depth);
        const div = document.createElement("div");
        div.className = "frame" + (cls ? " " + cls : "") + (matches(node) ? " match" : "");
        div.style.left = (left * 100) + "%";
        div.style.width = (frameWidth * 100) + "%";
        div.style.top = (depth * rowHeight) + "px";
        div.style.background = color(node.name);
        div.dataset.name = node.name;
        div.textContent = frameWidth * width > 24 ? node.name : "";
        div.addEventListener("click", function(){ focus = node; render(); });
        div.addEventListener("mousemove", function(event){ showTip(event, node); });
        div.addEventListener("mouseleave", function(){ tip.style.display = "none"; });
        graph.appendChild(div);
      }
      const chain = [];
      for (let n = focus.parent; n; n = n.parent) chain.unshift(n);
      chain.forEach(function(n, i){ place(n, 0, 1, i, "ancestor"); });
      function descend(node, left, depth){
        const value = node.v[type] || 0;
        if (total <= 0 || value <= 0) return;
        const w = value / total;
        if (w * width < 0.5 && node !== focus) return;
        place(node, left, w, depth, "");
        let offset = left;
        for (const kid of node.kids) { descend(kid, offset, depth + 1); offset += (kid.v[type] || 0) / total; }
      }
      descend(focus, 0, chain.length);
      graph.style.height = ((maxDepth + 1) * rowHeight) + "px";
      let matched = 0;
      (function sum(node, inside){
        const hit = !inside && matches(node);
        if (hit) matched += node.v[type] || 0;
        for (const kid of node.kids) sum(kid, inside || hit);
      })(root, false);
      const rootTotal = root.v[type] || 0;
      status.textContent = "total " + format(rootTotal) + (query ? " · matched " + format(matched) + " (" +
        (rootTotal ? (100 * matched / rootTotal).toFixed(1) : "0") + "%)" : "") + (count >= maxFrames ? " · truncated" : "");
    }
    function showTip(event, node){
      const rootTotal = root.v[type] || 0, value = node.v[type] || 0;
      tip.textContent = "";
      const lines = [node.name, format(value) + " (" + (rootTotal ? (100 * value / rootTotal).toFixed(2) : "0") + "%)"];
      if (node.loc) lines.push(node.loc);
      lines.forEach(function(text, i){ if (i) tip.appendChild(document.createElement("br")); tip.appendChild(document.createTextNode(text)); });
      tip.style.display = "block";
      tip.style.left = Math.min(event.clientX + 12, window.innerWidth - tip.offsetWidth - 4) + "px";
      tip.style.top = (event.clientY + 14) + "px";
    }
    select.addEventListener("change", function(){ type = Number(select.value); render(); });
    document.getElementById("search").addEventListener("input", function(event){ query = event.target.value.toLowerCase(); render(); });
    document.getElementById("reset").addEventListener("click", function(){ focus = root; render(); });
    window.addEventListener("resize", render);
    const preset = /[#&]search=([^&]*)/.exec(location.hash);  // a shareable search: …#search=Channel
    if (preset) { query = decodeURIComponent(preset[1]).toLowerCase(); document.getElementById("search").value = decodeURIComponent(preset[1]); }
    render();
    })();
    </script>
    </body></html>

    """
}
