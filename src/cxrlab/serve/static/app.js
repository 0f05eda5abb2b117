// cxrlab web page: upload an image, show the model view, heatmap, probabilities and decision.
// No external resources (works offline); all text is inserted with textContent.
"use strict";

const $ = (id) => document.getElementById(id);

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  $("status").textContent = "";
}

async function loadCard() {
  try {
    const res = await fetch("/v1/model");
    const card = await res.json();
    $("model-name").textContent = `${card.name} (${card.architecture}, classes: ${card.classes.join(", ")})`;
    $("intended-use").textContent = card.intended_use;
    const list = $("limitations");
    list.replaceChildren(...(card.limitations || []).map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
    $("card-meta").textContent = `input ${card.input.size}x${card.input.size}, temperature ${card.temperature}, ` +
      `thresholds ${JSON.stringify(card.thresholds)}`;
  } catch (err) {
    showError("could not load the model card: " + err);
  }
}

function probabilityRow(name, p, flagged) {
  const row = document.createElement("div");
  row.className = "prob-row" + (flagged ? " flagged" : "");
  row.dataset.class = name;
  const label = document.createElement("span");
  label.textContent = name;
  const bar = document.createElement("div");
  bar.className = "bar";
  const fill = document.createElement("div");
  fill.style.width = (100 * p).toFixed(1) + "%";
  bar.appendChild(fill);
  const value = document.createElement("span");
  value.className = "value";
  value.textContent = (100 * p).toFixed(1) + "%";
  row.append(label, bar, value);
  return row;
}

function render(result) {
  $("input-image").src = "data:image/png;base64," + result.image.png_base64;
  if (result.heatmap) {
    $("heatmap-image").src = "data:image/png;base64," + result.heatmap.png_base64;
    $("heatmap-caption").textContent = `Heatmap for ${result.heatmap.class}`;
  } else {
    $("heatmap-image").removeAttribute("src");
    $("heatmap-caption").textContent = result.heatmap_note || "No heatmap";
  }
  $("decision").textContent = result.decision.label;
  $("rule").textContent = result.decision.rule;
  const flagged = new Set(result.decision.flagged);
  $("probabilities").replaceChildren(
    ...Object.entries(result.probabilities).map(([name, p]) => probabilityRow(name, p, flagged.has(name))));
  $("result").hidden = false;
  $("status").textContent = `${result.filename}: done`;
}

async function upload(file) {
  $("error").hidden = true;
  $("result").hidden = true;
  $("status").textContent = `analysing ${file.name}...`;
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const res = await fetch("/v1/predict?heatmap=true&image=true", { method: "POST", body: form });
    const body = await res.json();
    if (!res.ok) {
      showError(body.error ? body.error.message : `request failed (${res.status})`);
      return;
    }
    render(body);
  } catch (err) {
    showError("request failed: " + err);
  }
}

function setup() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => { if (e.target.files.length) upload(e.target.files[0]); });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]); });
  loadCard();
}

document.addEventListener("DOMContentLoaded", setup);
