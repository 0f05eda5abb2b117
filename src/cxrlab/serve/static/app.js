// cxrlab web page: upload one or several images; one result card each with the film, the heatmap
// over it (opacity slider), the model view, probabilities, decision, warnings and DICOM fields.
// No external resources (works offline); all text is inserted with textContent.
"use strict";

const $ = (id) => document.getElementById(id);

// DICOM header fields shown on a card, in this order (keys of the API's "dicom" object).
const DICOM_LABELS = [
  ["view", "View"], ["patient_age", "Age"], ["patient_sex", "Sex"], ["modality", "Modality"],
  ["body_part", "Body part"], ["manufacturer", "Manufacturer"], ["pixel_spacing", "Pixel spacing"],
  ["photometric", "Photometric"], ["transfer_syntax", "Transfer syntax"],
];

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
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

function newCard(name) {
  const card = $("result-template").content.firstElementChild.cloneNode(true);
  card.querySelector(".filename").textContent = name;
  card.querySelector(".card-status").textContent = `analysing ${name}...`;
  const slider = card.querySelector(".opacity");
  slider.addEventListener("input", () => setOpacity(card, slider.value));
  $("results").appendChild(card);
  return card;
}

function setOpacity(card, percent) {
  card.querySelector(".heat-image").style.opacity = String(percent / 100);
  card.querySelector(".opacity-value").textContent = `${percent}%`;
}

function showWarnings(card, warnings) {
  const list = card.querySelector(".warnings");
  list.replaceChildren(...warnings.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  list.hidden = warnings.length === 0;
}

function showDicom(card, fields) {
  const list = card.querySelector(".dicom");
  const items = [];
  for (const [key, label] of DICOM_LABELS) {
    if (!fields[key]) continue;
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = fields[key];
    dd.dataset.field = key;
    items.push(dt, dd);
  }
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
}

function render(card, result) {
  card.querySelector(".input-image").src = "data:image/png;base64," + result.image.png_base64;
  card.querySelector(".film-image").src = "data:image/png;base64," + result.film.png_base64;
  const heat = card.querySelector(".heat-image");
  const slider = card.querySelector(".opacity");
  if (result.heatmap) {
    heat.src = "data:image/png;base64," + result.heatmap.colors_png_base64;
    heat.hidden = false;
    slider.disabled = false;
    card.querySelector(".heatmap-caption").textContent =
      `Heatmap for ${result.heatmap.class} on the film (${result.film.width}x${result.film.height})`;
  } else {
    heat.removeAttribute("src");
    heat.hidden = true;
    slider.disabled = true;
    card.querySelector(".heatmap-caption").textContent = result.heatmap_note || "No heatmap";
  }
  setOpacity(card, slider.value);
  card.querySelector(".decision").textContent = result.decision.label;
  card.querySelector(".rule").textContent = result.decision.rule;
  const flagged = new Set(result.decision.flagged);
  card.querySelector(".probabilities").replaceChildren(
    ...Object.entries(result.probabilities).map(([name, p]) => probabilityRow(name, p, flagged.has(name))));
  showWarnings(card, result.warnings || []);
  showDicom(card, result.dicom || {});
  card.querySelector(".result-body").hidden = false;
  card.querySelector(".card-status").textContent = `${result.filename}: done`;
}

function cardError(card, message) {
  const box = card.querySelector(".card-error");
  box.textContent = message;
  box.hidden = false;
  card.querySelector(".card-status").textContent = "";
  card.classList.add("failed");
}

async function predictInto(card, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const res = await fetch("/v1/predict?heatmap=true&image=true", { method: "POST", body: form });
    const body = await res.json();
    if (!res.ok) {
      cardError(card, body.error ? body.error.message : `request failed (${res.status})`);
      return false;
    }
    render(card, body);
    return true;
  } catch (err) {
    cardError(card, "request failed: " + err);
    return false;
  }
}

async function uploadAll(files) {
  $("error").hidden = true;
  $("results").replaceChildren();
  const list = Array.from(files);
  const cards = list.map((file) => newCard(file.name));
  let failed = 0;
  for (let i = 0; i < list.length; i++) {  // one at a time: the server limits concurrent inferences
    $("status").textContent = `analysing ${i + 1} of ${list.length}: ${list[i].name}...`;
    if (!(await predictInto(cards[i], list[i]))) failed++;
  }
  $("status").textContent = list.length === 1
    ? (failed ? `${list[0].name}: failed` : `${list[0].name}: done`)
    : `${list.length - failed} of ${list.length} files analysed` + (failed ? `, ${failed} failed` : "");
}

function setup() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => { if (e.target.files.length) uploadAll(e.target.files); });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) uploadAll(e.dataTransfer.files); });
  loadCard();
}

document.addEventListener("DOMContentLoaded", setup);
