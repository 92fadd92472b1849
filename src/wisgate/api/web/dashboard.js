// The wisgate dashboard: live over server-sent events (status, events, LoRa packets), charts from the
// daemon's history (uPlot, shipped with the package). No framework, no CDN.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_PACKETS = 2000;
  const SHOWN_PACKETS = 200;
  const LIVE_POINTS = 3600;
  const ui = {
    range: 3600, charts: {}, packets: [], paused: false, types: new Set(), health: {},
    links: {}, lastStatus: null, oledBusy: false, trafficModule: "", industrial: { layout: "", cells: new Map() },
  };

  // ---- helpers ---------------------------------------------------------------------------------------
  const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  const el = (tag, attrs = {}, text = "") => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  };
  const svg = (tag, attrs = {}) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  };
  const time = (epoch) => new Date(epoch * 1000).toLocaleTimeString();
  async function getJson(path) {
    const response = await fetch(path, { cache: "no-store" });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  // ---- live streams: EventSource reconnects by itself; a stream the browser gave up on is reopened ------
  function stream(path, handlers) {
    let source = null;
    const open = () => {
      source = new EventSource(path);
      source.onopen = () => setLink(path, true);
      source.onerror = () => {
        setLink(path, false);
        if (source.readyState === EventSource.CLOSED) { source.close(); setTimeout(open, 3000); }
      };
      for (const [name, handle] of Object.entries(handlers)) {
        source.addEventListener(name, (message) => {
          try { handle(JSON.parse(message.data)); } catch (error) { console.warn(name, error); }
        });
      }
    };
    open();
  }
  function setLink(path, up) {
    ui.links[path] = up;
    const all = Object.values(ui.links);
    const live = all.length > 0 && all.every(Boolean);
    const pill = $("link");
    pill.textContent = live ? "live" : "reconnecting…";
    pill.className = `pill ${live ? "ok" : "warn"}`;
  }

  // ---- the board diagram -------------------------------------------------------------------------------
  const DEVICES = [
    { id: "oled", x: 20, y: 20, w: 130, h: 60, label: "OLED", sub: "SSD1306 0x3C" },
    { id: "adc", x: 20, y: 92, w: 130, h: 56, label: "ADC", sub: "SGM58031 0x4B" },
    { id: "expander1", x: 20, y: 160, w: 130, h: 56, label: "IOX1 + LEDs", sub: "TPT29555 0x27" },
    { id: "expander2", x: 20, y: 228, w: 130, h: 56, label: "IOX2", sub: "TPT29555 0x26" },
    { id: "power", x: 20, y: 294, w: 130, h: 54, label: "DC in / power-fail", sub: "GPIO16" },
    { id: "cpu", x: 230, y: 130, w: 180, h: 100, label: "CM4", sub: "CPU" },
    { id: "wisblock1", x: 170, y: 290, w: 120, h: 50, label: "WisBlock 1", sub: "slot" },
    { id: "wisblock2", x: 300, y: 290, w: 120, h: 50, label: "WisBlock 2", sub: "slot" },
    { id: "fan", x: 470, y: 20, w: 150, h: 60, label: "Fan", sub: "EMC2301 0x2F" },
    { id: "temperature_sensor", x: 470, y: 92, w: 150, h: 56, label: "PCB sensor", sub: "SHTC3 0x70" },
    { id: "rtc", x: 470, y: 160, w: 150, h: 56, label: "RTC", sub: "PCF85063A 0x51" },
    { id: "secure_element", x: 470, y: 228, w: 150, h: 56, label: "Secure element", sub: "ATECC608A 0x60" },
    { id: "buzzer", x: 470, y: 294, w: 150, h: 54, label: "Buzzer", sub: "GPIO13 (J39)" },
  ];
  const LORA_SLOTS = [0, 1, 2, 3];
  function drawBoard() {
    const board = $("board");
    board.append(svg("rect", { class: "pcb", x: 5, y: 5, width: 630, height: 350, rx: 12 }));
    const put = (d) => {
      const group = svg("g", { class: "dev off", id: `dev-${d.id}` });
      group.append(svg("rect", { x: d.x, y: d.y, width: d.w, height: d.h }));
      const title = svg("title"); title.textContent = d.label; group.append(title);
      const name = svg("text", { x: d.x + 8, y: d.y + 18 }); name.textContent = d.label; group.append(name);
      const sub = svg("text", { x: d.x + 8, y: d.y + 34, class: "sub" }); sub.textContent = d.sub; group.append(sub);
      const value = svg("text", { x: d.x + 8, y: Math.min(d.y + 50, d.y + d.h - 6), class: "sub value" });
      group.append(value);
      board.append(group);
      return group;
    };
    DEVICES.forEach(put);
    LORA_SLOTS.forEach((slot) => put({ id: `lora-${slot}`, x: 165 + slot * 75, y: 20, w: 68, h: 90,
      label: `LoRa ${slot}`, sub: "mPCIe" }));
    for (const [pin, dx] of [[6, 100], [7, 118]]) {
      board.append(svg("circle", { class: "led", id: `led-${pin}`, cx: 20 + dx, cy: 172, r: 6 }));
    }
  }
  function setDevice(id, cls, value, why) {
    const group = $(`dev-${id}`);
    if (!group) return;
    group.setAttribute("class", `dev ${cls}`);
    group.querySelector(".value").textContent = value || "";
    group.querySelector("title").textContent = `${id}: ${why || cls}`;
  }
  function updateBoard(status) {
    const devices = {};
    for (const r of status.readings) {
      const d = devices[r.device] || (devices[r.device] = { cls: "ok", why: [] });
      if (!r.ok) { d.cls = "err"; d.why.push(`${r.label}: ${r.error}`); }
      else if (r.stale && d.cls === "ok") { d.cls = "warn"; d.why.push(`${r.label} is stale`); }
    }
    const read = Object.fromEntries(status.readings.map((r) => [r.name, r]));
    const state = (id) => devices[id] || { cls: "off", why: ["not read"] };
    const power = status.power;
    const fan = status.fan;
    for (const d of DEVICES) {
      let { cls, why } = state(d.id);
      let value = "";
      if (d.id === "cpu") value = read["cpu.temperature"] ? read["cpu.temperature"].value : "";
      if (d.id === "temperature_sensor" && read["pcb.temperature"]) {
        value = `${read["pcb.temperature"].value} · ${read["pcb.humidity"] ? read["pcb.humidity"].value : ""}`;
      }
      if (d.id === "adc") value = [0, 1, 2, 3].map((c) => fmt(read[`adc.ain${c}`]?.number, 2)).join(" ");
      if (d.id === "fan" && fan) {
        value = `${fmt(fan.duty_percent, 0)} % · ${fmt(fan.rpm, 0)} RPM`;
        if (fan.fault) { cls = "err"; why = [fan.fault]; } else if (cls === "off") cls = "ok";
      }
      if (d.id === "power" && power) {
        cls = power.supply === "ok" ? "ok" : "err";
        why = [power.supply === "ok" ? "supply present" : "supply lost: on the ultracapacitors"];
        value = power.supply === "ok" ? "supply ok" : "SUPPLY LOST";
      }
      if (d.id === "rtc" && read["rtc.time"]) value = read["rtc.time"].value.slice(11, 19);
      if (d.id === "secure_element" && read["secure_element.serial"]) value = read["secure_element.serial"].value;
      if (d.id === "oled" || d.id === "buzzer") {
        const service = ui.health[d.id === "oled" ? "display" : "buzzer"];
        cls = !service ? "off" : service.ok ? "ok" : "err";
        why = [service ? `${service.state}${service.error ? ": " + service.error : ""}` : "service not running"];
      }
      if (d.id.startsWith("wisblock")) { cls = "off"; why = ["no probe for slot modules"]; }
      setDevice(d.id, cls, value, why.join("; "));
    }
    const modules = (status.lora && status.lora.modules) || {};
    const lora = ui.health.lora;
    for (const slot of LORA_SLOTS) {
      const m = modules[String(slot)];
      if (!m) { setDevice(`lora-${slot}`, "off", "", "no module"); continue; }
      const ok = lora ? lora.ok : true;
      setDevice(`lora-${slot}`, ok ? "ok" : "err", `${m.received} rx`, ok ? "receiving" : lora.error);
    }
    const port0 = read["expander1.port0"] && read["expander1.port0"].ok ? read["expander1.port0"].value : null;
    for (const pin of [6, 7]) {
      const led = $(`led-${pin}`);
      const lit = port0 !== null && port0[7 - pin] === "0";  // active low
      led.setAttribute("class", lit ? "led lit" : "led");
    }
  }

  // ---- the facts beside the board ----------------------------------------------------------------------
  function updateFacts(status) {
    const read = Object.fromEntries(status.readings.map((r) => [r.name, r]));
    const power = status.power;
    const supply = $("supply");
    if (power) {
      supply.dataset.state = power.supply;
      supply.textContent = power.supply === "ok"
        ? `ok (${power.losses} outage${power.losses === 1 ? "" : "s"} so far)`
        : `LOST ${power.outage_s !== null ? fmt(power.outage_s, 1) + " s ago" : ""}`
          + (power.shutdown_in_s !== null ? `, shutdown in ${fmt(power.shutdown_in_s, 0)} s` : "");
      $("powerfail").textContent = power.supply === "ok" ? "high (supply present)" : "low (power fail)";
    } else if (read.supply) {
      supply.dataset.state = read.supply.value === "ok" ? "ok" : "lost";
      supply.textContent = read.supply.value;
    }
    const fan = status.fan;
    $("fan").textContent = fan
      ? `${fmt(fan.duty_percent, 0)} % · ${fmt(fan.rpm, 0)} RPM · ${fan.mode}`
        + (fan.target_c !== null && fan.target_c !== undefined ? ` ${fan.target_c} °C` : "")
        + (fan.fault ? ` · ${fan.fault}` : "")
      : "–";
    $("cpu").textContent = read["cpu.temperature"] ? read["cpu.temperature"].value : "–";
    $("pcb").textContent = read["pcb.temperature"]
      ? `${read["pcb.temperature"].value}, ${read["pcb.humidity"] ? read["pcb.humidity"].value : ""}` : "–";
    $("rtc").textContent = read["rtc.time"] ? read["rtc.time"].value : "–";
    const wake = status.rtc && status.rtc.wake_alarm;
    $("wake").textContent = wake ? new Date(wake * 1000).toISOString().replace(".000", "") : "off";
    $("serial").textContent = read["secure_element.serial"] ? read["secure_element.serial"].value : "–";
    if (status.lora) $("gateway-id").textContent = `gateway ${status.lora.gateway_id}`;
  }

  function refreshOled() {
    if (ui.oledBusy) return;
    ui.oledBusy = true;
    const image = new Image();
    image.onload = () => { $("oled").src = image.src; ui.oledBusy = false; };
    image.onerror = () => { ui.oledBusy = false; };
    image.src = `/api/oled.png?t=${Date.now()}`;
  }

  // ---- charts ------------------------------------------------------------------------------------------
  const CHARTS = {
    temp: { el: "chart-temp", series: [["cpu.temperature", "CPU", "#ff7b72", "°C"], ["pcb.temperature", "PCB", "#79c0ff", "°C"]] },
    fan: { el: "chart-fan", series: [["fan.rpm", "RPM", "#d2a8ff", "rpm"], ["fan.duty", "duty %", "#7ee787", "%"]] },
    adc: { el: "chart-adc", series: [0, 1, 2, 3].map((c) => [`adc.ain${c}`, `AIN${c}`,
      ["#ffa657", "#79c0ff", "#7ee787", "#d2a8ff"][c], "V"]) },
  };
  const axis = (scale, side = 3) => ({ scale, side, stroke: "#8a94a3", grid: { stroke: "#2a313b" },
    ticks: { stroke: "#2a313b" } });
  function makeChart(key, data) {
    const spec = CHARTS[key];
    const host = $(spec.el);
    const scales = [...new Set(spec.series.map((s) => s[3]))];
    const opts = {
      width: Math.max(240, host.clientWidth), height: 180,
      scales: { x: { time: true } },
      series: [{}, ...spec.series.map(([, label, stroke, scale]) => ({ label, stroke, scale, width: 1.5,
        spanGaps: true }))],
      axes: [axis("x", 2), axis(scales[0], 3), ...(scales[1] ? [{ ...axis(scales[1], 1), grid: { show: false } }] : [])],
      legend: { live: false },
    };
    if (ui.charts[key]) ui.charts[key].destroy();
    ui.charts[key] = new uPlot(opts, data, host);
  }
  async function loadHistory() {
    const range = ui.range;
    for (const key of Object.keys(CHARTS)) {
      const spec = CHARTS[key];
      const columns = await Promise.all(spec.series.map(([name]) =>
        getJson(`/api/history/${name}?since=-${range}`).catch(() => ({ t: [], mean: [] }))));
      const times = [...new Set(columns.flatMap((c) => c.t))].sort((a, b) => a - b);
      const data = [times, ...columns.map((c) => {
        const at = new Map(c.t.map((t, i) => [t, c.mean[i]]));
        return times.map((t) => (at.has(t) ? at.get(t) : null));
      })];
      makeChart(key, data);
    }
  }
  function appendLive(status) {
    if (ui.range !== 3600) return;  // longer ranges show the stored means only
    const read = Object.fromEntries(status.readings.map((r) => [r.name, r.number ?? null]));
    const now = status.time;
    for (const key of Object.keys(CHARTS)) {
      const chart = ui.charts[key];
      if (!chart) continue;
      const data = chart.data.map((column) => Array.from(column));
      data[0].push(now);
      CHARTS[key].series.forEach(([name], i) => data[i + 1].push(read[name] ?? null));
      if (data[0].length > LIVE_POINTS) data.forEach((column) => column.shift());
      chart.setData(data);
    }
  }
  function resizeCharts() {
    for (const [key, chart] of Object.entries(ui.charts)) {
      const host = chart.root.parentElement;
      if (host && host.clientWidth) chart.setSize({ width: Math.max(240, host.clientWidth), height: 180 });
      void key;
    }
  }

  // ---- status and health -------------------------------------------------------------------------------
  function onStatus(status) {
    ui.lastStatus = status;
    updateFacts(status);
    updateBoard(status);
    updateIndustrialValues(status.readings);
    appendLive(status);
    refreshOled();
  }
  async function loadHealth() {
    try {
      const health = await getJson("/api/health");
      ui.health = Object.fromEntries(health.services.map((s) => [s.name, s]));
      if (ui.lastStatus) updateBoard(ui.lastStatus);
    } catch (error) { /* the daemon is restarting: the streams say so */ }
  }

  // ---- events ------------------------------------------------------------------------------------------
  function onEvent(event) {
    const list = $("events");
    const item = el("li", { class: event.severity, "data-kind": event.kind });
    item.append(el("time", {}, time(event.time)), document.createTextNode(event.message));
    list.prepend(item);
    while (list.children.length > 200) list.lastChild.remove();
  }

  // ---- LoRa --------------------------------------------------------------------------------------------
  const RATE_COLOURS = ["#ff7b72", "#ffa657", "#e3b341", "#7ee787", "#56d4dd", "#79c0ff", "#d2a8ff", "#f778ba"];
  function trafficChart(key, host, series, times, stackedValues, raw, bars) {
    const signature = series.join("|");
    const existing = ui.charts[key];
    const data = [times, ...stackedValues];
    if (existing && existing._signature === signature) { existing.setData(data); existing._raw = raw; return; }
    if (existing) existing.destroy();
    const opts = {
      width: Math.max(240, host.clientWidth), height: 200, scales: { x: { time: true } },
      series: [{}, ...series.map((label, i) => ({
        label, stroke: RATE_COLOURS[i % RATE_COLOURS.length], fill: bars ? RATE_COLOURS[i % RATE_COLOURS.length] + "cc" : undefined,
        width: 1, paths: bars ? uPlot.paths.bars({ size: [0.9, 40] }) : undefined,
        value: (u, v, si, idx) => (idx === null || !u._raw ? v : u._raw[si - 1][idx]),
      }))],
      axes: [axis("x", 2), axis("y", 3)],
      legend: { live: true },
    };
    const chart = new uPlot(opts, data, host);
    chart._signature = signature;
    chart._raw = raw;
    ui.charts[key] = chart;
  }
  function drawTraffic(traffic) {
    const select = $("traffic-module");
    const boards = Object.keys(traffic.modules);
    const options = ["", ...boards];
    if ([...select.options].map((o) => o.value).join() !== options.join()) {
      select.replaceChildren(...options.map((b) => el("option", { value: b }, b === "" ? "all modules" : `module ${b}`)));
      select.value = ui.trafficModule;
    }
    const chosen = ui.trafficModule ? [ui.trafficModule] : boards;
    const rates = {};
    for (const b of chosen) {
      for (const [rate, counts] of Object.entries(traffic.modules[b]?.datarates || {})) {
        rates[rate] = (rates[rate] || traffic.minutes.map(() => 0)).map((v, i) => v + counts[i]);
      }
    }
    const names = Object.keys(rates).sort();
    // stacked: each series is drawn as the sum of itself and the rates after it, largest first
    const raw = names.map((n) => rates[n]);
    const stacked = raw.map((_, i) => traffic.minutes.map((__, m) => raw.slice(i).reduce((s, r) => s + r[m], 0)));
    trafficChart("traffic", $("chart-traffic"), names.length ? names : ["none"], traffic.minutes,
      names.length ? stacked : [traffic.minutes.map(() => 0)], names.length ? raw : [traffic.minutes.map(() => 0)], true);
    const airtime = boards.map((b) => traffic.modules[b].airtime_s);
    trafficChart("airtime", $("chart-airtime"), boards.length ? boards.map((b) => `module ${b}`) : ["none"],
      traffic.minutes, boards.length ? airtime : [traffic.minutes.map(() => 0)],
      boards.length ? airtime : [traffic.minutes.map(() => 0)], false);
    drawHeatmap(traffic);
    drawDuty(traffic.minutes, traffic.duty_cycle);
    drawHistogram($("hist-rssi"), traffic.rssi, "#79c0ff");
    drawHistogram($("hist-snr"), traffic.snr, "#7ee787");
    const sum = (values) => values.reduce((a, b) => a + b, 0);
    const downlinks = Object.entries(traffic.downlinks || {}).map(([outcome, counts]) => `${outcome} ${sum(counts)}`);
    $("lora-summary").textContent = `${sum(traffic.uplinks)} uplinks in the last hour · `
      + `downlinks: ${downlinks.join(", ") || "none"} · ${traffic.active_devices} active devices`;
  }
  // each module's transmit airtime per regulated sub-band over the rolling hour, against the band's limit
  function drawDuty(minutes, duty) {
    const bands = duty.bands;
    const label = (b) => `module ${b.board} · ${b.band} (${fmt(b.limit * 100, b.limit < 0.01 ? 1 : 0)} %)`;
    const names = [...bands.map(label), "limit"];
    const series = [...bands.map((b) => b.series.map((v) => v * 100)), minutes.map(() => 100)];
    $("duty-regulation").textContent = duty.regulation
      ? `(${duty.regulation})` : "(no duty-cycle limit in this region)";
    const signature = names.join("|");
    const existing = ui.charts.duty;
    if (existing && existing._signature === signature) existing.setData([minutes, ...series]);
    else {
      if (existing) existing.destroy();
      const host = $("chart-duty");
      ui.charts.duty = new uPlot({
        width: Math.max(240, host.clientWidth), height: 200,
        // from 0 to just above the limit line (or above the load, past it)
        scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, hi * 1.1] } },
        series: [{}, ...names.map((name, i) => (name === "limit"
          ? { label: name, stroke: "#e5534b", dash: [6, 4], width: 1 }
          : { label: name, stroke: RATE_COLOURS[i % RATE_COLOURS.length], width: 1.5 }))],
        axes: [axis("x", 2), axis("y", 3)], legend: { live: true },
      }, [minutes, ...series], host);
      ui.charts.duty._signature = signature;
    }
    const rows = bands.map((b) => {
      const row = el("tr", { "data-board": b.board, "data-band": b.band });
      const mhz = `${b.band} ${(b.min_hz / 1e6).toFixed(1)}–${(b.max_hz / 1e6).toFixed(1)} MHz`;
      for (const cell of [b.board, mhz, `${fmt(b.limit * 100, b.limit < 0.01 ? 1 : 0)} %`,
        `${fmt(b.used_s, 2)} / ${fmt(b.budget_s, 0)}`]) row.append(el("td", {}, String(cell)));
      const cls = b.load >= 1 ? "err" : b.load >= 0.8 ? "warn" : "";
      row.append(el("td", { class: `load ${cls}`, "data-load": String(b.load) }, `${fmt(b.load * 100, 2)} %`));
      return row;
    });
    if (!rows.length) {
      const row = el("tr");
      row.append(el("td", { colspan: "5", class: "muted" }, "nothing transmitted in the last hour"));
      rows.push(row);
    }
    $("duty").tBodies[0].replaceChildren(...rows);
  }
  function drawHeatmap(traffic) {
    const canvas = $("heatmap");
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const rows = traffic.channels;
    if (!rows.length) { ctx.fillStyle = "#8a94a3"; ctx.fillText("no traffic yet", 10, 20); return; }
    const left = 110, top = 4, height = Math.min(18, (canvas.height - 20) / rows.length);
    const width = (canvas.width - left - 4) / traffic.minutes.length;
    const max = Math.max(1, ...rows.flatMap((r) => r.counts));
    ctx.font = "10px sans-serif";
    rows.forEach((row, y) => {
      ctx.fillStyle = "#8a94a3";
      ctx.fillText(`B${row.board} ${(row.frequency_hz / 1e6).toFixed(3)}`, 4, top + y * height + height * 0.75);
      row.counts.forEach((count, x) => {
        const level = count / max;
        ctx.fillStyle = count ? `rgba(255, ${Math.round(200 - 160 * level)}, 60, ${0.25 + 0.75 * level})` : "#161a20";
        ctx.fillRect(left + x * width, top + y * height, Math.max(1, width - 1), height - 1);
      });
    });
    ctx.fillStyle = "#8a94a3";
    ctx.fillText("−60 min", left, canvas.height - 4);
    ctx.fillText("now", canvas.width - 24, canvas.height - 4);
  }
  function drawHistogram(canvas, histogram, colour) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const counts = histogram.counts, edges = histogram.edges;
    const max = Math.max(1, ...counts);
    const width = (canvas.width - 8) / counts.length, bottom = canvas.height - 14;
    ctx.fillStyle = colour;
    counts.forEach((count, i) => {
      const h = (bottom - 4) * count / max;
      ctx.fillRect(4 + i * width, bottom - h, Math.max(1, width - 1), h);
    });
    ctx.fillStyle = "#8a94a3";
    ctx.font = "10px sans-serif";
    ctx.fillText(String(edges[0]), 4, canvas.height - 2);
    ctx.fillText(String(edges[edges.length - 1]), canvas.width - 24, canvas.height - 2);
  }
  function drawStats(stats) {
    const modules = $("modules").tBodies[0];
    modules.replaceChildren(...stats.modules.map((m) => {
      const row = el("tr");
      const tx = Object.entries(m.tx).map(([k, v]) => `${k} ${v}`).join(", ") || "–";
      for (const cell of [m.board, m.total.received, m.total.crc_bad, m.total.forwarded, m.total.duplicates,
        fmt(m.total.airtime_s, 2), tx]) row.append(el("td", {}, String(cell)));
      return row;
    }));
    const channels = $("channels").tBodies[0];
    channels.replaceChildren(...stats.modules.flatMap((m) => m.channels.map((c) => {
      const row = el("tr");
      const rates = Object.entries(c.datarates || {}).map(([k, v]) => `${k} ${v}`).join(", ");
      for (const cell of [m.board, (c.frequency_hz / 1e6).toFixed(3), c.received, rates]) {
        row.append(el("td", {}, String(cell)));
      }
      return row;
    })));
  }
  async function loadLora() {
    try {
      drawTraffic(await getJson("/api/lora/traffic"));
      drawStats(await getJson("/api/lora/stats"));
    } catch (error) { /* the daemon is restarting */ }
  }

  // ---- the packet log ----------------------------------------------------------------------------------
  // a downlink has no reception: an RSSI or SNR floor leaves it out
  const bestRssi = (p) => Math.max(-Infinity, ...p.receptions.map((r) => r.rssi));
  const bestSnr = (p) => Math.max(-Infinity, ...p.receptions.map((r) => r.snr));
  const failed = (p) => (p.direction === "down" ? p.outcome !== "OK" : p.receptions.every((r) => r.crc !== "ok"));
  function passes(p) {
    const type = $("f-type").value, freq = $("f-freq").value.trim(), addr = $("f-addr").value.trim().toUpperCase();
    const rssi = $("f-rssi").value, snr = $("f-snr").value;
    if (type && p.mtype !== type) return false;
    if (freq && !(p.frequency_hz / 1e6).toFixed(3).startsWith(freq)) return false;
    if (addr && !((p.dev_addr || "") + " " + (p.dev_eui || "")).includes(addr)) return false;
    if (rssi !== "" && bestRssi(p) < Number(rssi)) return false;
    if (snr !== "" && bestSnr(p) < Number(snr)) return false;
    if ($("f-crc").checked && p.direction !== "down" && p.receptions.every((r) => r.crc !== "ok")) return false;
    return true;
  }
  function onPacket(packet) {
    ui.packets.push(packet);
    if (ui.packets.length > MAX_PACKETS) ui.packets.splice(0, ui.packets.length - MAX_PACKETS);
    if (!ui.types.has(packet.mtype)) {
      ui.types.add(packet.mtype);
      $("f-type").append(el("option", { value: packet.mtype }, packet.mtype));
    }
    schedulePackets();
  }
  let packetsPending = false;
  function schedulePackets() {
    if (packetsPending || ui.paused) return;
    packetsPending = true;
    setTimeout(() => { packetsPending = false; renderPackets(); }, 250);
  }
  function renderPackets() {
    const shown = ui.packets.filter(passes);
    const rows = shown.slice(-SHOWN_PACKETS).reverse().map((p) => {
      const down = p.direction === "down";
      const row = el("tr", { class: `${failed(p) ? "bad" : ""} ${down ? "down" : ""}` });
      const receptions = down
        ? `↓ B${p.board ?? "?"} ${p.outcome} ${fmt(p.power_dbm, 0)} dBm class ${p.tx_class}${p.detail ? " " + p.detail : ""}`
        : p.receptions.map((r) => `B${r.board}/ch${r.channel} ${r.rssi.toFixed(0)} dBm ${r.snr.toFixed(1)} dB`).join("; ");
      for (const cell of [time(p.time), (down ? "↓ " : "") + p.mtype, p.dev_addr || p.dev_eui || "", p.fcnt ?? "",
        (p.frequency_hz / 1e6).toFixed(3), p.datr, p.size, receptions]) row.append(el("td", {}, String(cell)));
      return row;
    });
    $("packets").tBodies[0].replaceChildren(...rows);
    $("packet-count").textContent = `${shown.length} of ${ui.packets.length} kept${ui.paused ? " · paused" : ""}`;
  }
  function download() {
    const blob = new Blob([JSON.stringify(ui.packets.filter(passes), null, 1)], { type: "application/json" });
    const link = el("a", { href: URL.createObjectURL(blob), download: `wisgate-packets-${Date.now()}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // ---- controls ----------------------------------------------------------------------------------------
  // ---- industrial: ModBUS points and WisBlock IO with device health; writes with the token -------------
  const INDUSTRIAL_ANALOG = ["RAK5801", "RAK5811"];
  function industrialRows(data) {
    const rows = [];
    for (const d of data.devices) {
      for (const p of d.points) {
        const bits = p.type === "bool";
        const kind = !p.writable ? "" : bits ? "switch" : p.type === "string" ? "text" : "number";
        rows.push({ key: `modbus.${d.name}.${p.name}`, owner: d.name, name: p.name, unit: p.unit, digits: p.digits,
          onOff: bits, kind, point: p, write: `/api/industrial/devices/${d.name}/points/${p.name}` });
      }
    }
    for (const m of data.wisblock) {
      const analog = INDUSTRIAL_ANALOG.includes(m.module);
      const names = analog ? [m.module === "RAK5801" ? "current" : "voltage", ...(m.range ? ["value"] : [])]
        : ["relay", ...m.readings.filter((r) => r.name.endsWith(".input")).map(() => "input")];
      for (const name of names) {
        const unit = name === "current" ? "mA" : name === "voltage" ? "V" : name === "value" ? m.unit : "";
        rows.push({ key: `wisblock.${m.name}.${name}`, owner: `${m.name} (${m.module}, slot ${m.slot})`, name, unit,
          digits: name === "value" ? 2 : 3, onOff: !analog, kind: name === "relay" ? "relay" : "",
          write: `/api/industrial/wisblock/${m.name}/relay` });
      }
    }
    return rows;
  }
  function industrialControl(row) {
    const cell = el("td");
    const answered = (answer) => {
      if (!answer) return;
      if (answer.read_back) updateIndustrialValues([answer.read_back]);
      if (answer.on !== undefined) updateIndustrialValues([{ name: row.key, ok: true, number: answer.on ? 1 : 0 }]);
    };
    const send = async (value) => answered(await control("POST", row.write, value, "industrial-result"));
    if (row.kind === "switch" || row.kind === "relay") {
      for (const [label, on] of [["On", true], ["Off", false]]) {
        const button = el("button", { "data-write": row.key, "data-value": label.toLowerCase() }, label);
        button.onclick = () => send(row.kind === "relay" ? { on } : { value: on ? 1 : 0 });
        cell.append(button);
      }
    } else if (row.kind) {
      const p = row.point;
      const attrs = { "data-input": row.key, type: row.kind === "number" ? "number" : "text" };
      if (row.kind === "number") {
        if (p.min !== null) attrs.min = p.min;
        if (p.max !== null) attrs.max = p.max;
        attrs.step = "any";
      }
      const input = el("input", attrs);
      const button = el("button", { "data-write": row.key }, "Set");
      button.onclick = () => send({ value: row.kind === "number" ? Number(input.value) : input.value });
      input.onkeydown = (event) => { if (event.key === "Enter") button.click(); };
      cell.append(input, button);
      if (row.kind === "number" && (p.min !== null || p.max !== null)) {
        cell.append(el("small", { class: "muted" }, `${p.min ?? "…"}–${p.max ?? "…"}`));
      }
    }
    return cell;
  }
  function layoutIndustrial(rows) {
    const layout = rows.map((r) => `${r.key}:${r.kind}`).join("|");
    if (layout === ui.industrial.layout) return;
    ui.industrial.layout = layout;
    ui.industrial.cells = new Map();
    const body = $("industrial-points").querySelector("tbody");
    body.replaceChildren();
    for (const row of rows) {
      const value = el("td", { class: "value", "data-reading": row.key }, "–");
      ui.industrial.cells.set(row.key, { cell: value, row });
      body.append(el("tr"));
      body.lastChild.append(el("td", {}, row.owner), el("td", {}, row.name), value, el("td", {}, row.unit || ""),
        industrialControl(row));
    }
  }
  function updateIndustrialValues(readings) {
    for (const r of readings || []) {
      const known = ui.industrial.cells.get(r.name);
      if (!known) continue;
      const { cell, row } = known;
      cell.classList.toggle("err", !r.ok);
      cell.title = r.ok ? "" : r.error || "";
      if (!r.ok) cell.textContent = "error";
      else if (r.number === undefined || r.number === null) cell.textContent = r.value;
      else cell.textContent = row.onOff ? (r.number ? "on" : "off") : fmt(r.number, row.digits);
    }
  }
  async function loadIndustrial() {
    let data = null;
    // only while the service runs: a 503 every few seconds would fill the browser's console
    if (ui.health.industrial) {
      try { data = await getJson("/api/industrial"); } catch (error) { /* stopped meanwhile */ }
    }
    if (!data) { $("industrial-card").hidden = true; return; }
    $("industrial-card").hidden = false;
    const devices = $("industrial-devices").querySelector("tbody");
    devices.replaceChildren();
    for (const d of data.devices) {
      const status = el("span", { class: `pill ${d.status === "ok" ? "ok" : d.status === "unknown" ? "warn" : "err"}` },
        d.status);
      const row = el("tr", { "data-device": d.name, "data-status": d.status });
      row.append(el("td", {}, d.name), el("td", {}, `${d.bus} #${d.device_id}`), el("td"), el("td", {}, d.reason || ""),
        el("td", {}, `${d.errors}/${d.requests} (${fmt(d.error_rate * 100, 1)} %)`));
      row.children[2].append(status);
      devices.append(row);
    }
    const down = data.devices.filter((d) => d.status !== "ok").length;
    $("industrial-summary").textContent = `${data.devices.length} ModBUS device${data.devices.length === 1 ? "" : "s"}`
      + (down ? `, ${down} not answering` : "") + `, ${data.wisblock.length} WisBlock module${data.wisblock.length === 1 ? "" : "s"}`;
    layoutIndustrial(industrialRows(data));
    updateIndustrialValues(data.devices.flatMap((d) => d.points.map((p) => p.reading).filter(Boolean)));
    updateIndustrialValues(data.wisblock.flatMap((m) => m.readings));
  }

  async function control(method, path, body, resultId = "control-result") {
    const token = $("token").value.trim();
    sessionStorage.setItem("wisgate-token", token);
    const result = $(resultId);
    try {
      const response = await fetch(path, {
        method, headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      const detail = Array.isArray(answer.detail) ? answer.detail.map((d) => d.msg).join("; ") : answer.detail;
      result.textContent = response.ok ? `done: ${JSON.stringify(answer)}` : `${response.status}: ${detail}`;
      result.dataset.ok = String(response.ok);
      return response.ok ? answer : null;
    } catch (error) {
      result.textContent = `no answer: ${error}`;
      result.dataset.ok = "false";
      return null;
    }
  }
  function wireControls() {
    $("token").value = sessionStorage.getItem("wisgate-token") || "";
    $("fan-set").onclick = () => control("POST", "/api/fan", { duty: Number($("fan-duty").value) });
    $("fan-hold").onclick = () => control("POST", "/api/fan", { target_c: Number($("fan-target").value) });
    $("fan-auto").onclick = () => control("DELETE", "/api/fan");
    $("oled-send").onclick = () => {
      const lines = $("oled-text").value.split("\n").map((l) => l.slice(0, 21)).slice(0, 5);
      control("POST", "/api/oled", { lines: lines.length && lines.some(Boolean) ? lines : [" "] });
    };
    $("pause").onclick = () => {
      ui.paused = !ui.paused;
      $("pause").textContent = ui.paused ? "Resume" : "Pause";
      $("pause").classList.toggle("on", ui.paused);
      renderPackets();
    };
    for (const id of ["f-type", "f-freq", "f-addr", "f-rssi", "f-snr", "f-crc"]) $(id).oninput = renderPackets;
    $("download").onclick = download;
    $("traffic-module").onchange = () => { ui.trafficModule = $("traffic-module").value; loadLora(); };
    for (const button of $("ranges").querySelectorAll("button")) {
      button.onclick = () => {
        ui.range = Number(button.dataset.range);
        $("ranges").querySelectorAll("button").forEach((b) => b.classList.toggle("on", b === button));
        loadHistory();
      };
    }
    window.addEventListener("resize", resizeCharts);
  }

  // ---- start -------------------------------------------------------------------------------------------
  async function start() {
    drawBoard();
    wireControls();
    await loadHealth();
    await loadHistory();
    try { (await getJson("/api/lora/packets?limit=500")).forEach(onPacket); } catch (error) { /* later */ }
    stream("/api/status/stream", { status: onStatus });
    stream("/api/events/stream?recent=true", { event: onEvent });
    stream("/api/lora/stream", { uplink: onPacket, downlink: onPacket });
    loadLora();
    loadIndustrial();
    setInterval(loadIndustrial, 3000);
    setInterval(loadHealth, 5000);
    setInterval(loadLora, 10000);
    setInterval(() => { if (ui.range !== 3600) loadHistory(); }, 60000);
  }
  start();
})();
