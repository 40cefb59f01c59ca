/* exchange-hub console: sortable tables and charts. No inline script runs (CSP script-src 'self'). */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var raw = cell.getAttribute("data-sort");
    if (raw === null) raw = cell.textContent.trim();
    var number = parseFloat(raw.replace(/[,%]/g, ""));
    return isNaN(number) || !/^-?[\d.,]+%?$/.test(raw) ? raw : number;
  }

  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (typeof a === "number") return -1;
    if (typeof b === "number") return 1;
    return String(a).localeCompare(String(b), "zh-CN");
  }

  function sortBy(table, header) {
    var index = header.cellIndex;
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (x, y) {
      var order = compare(cellValue(x, index), cellValue(y, index));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.tabIndex = 0;
      th.classList.add("sort-key");
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, th); }
      });
    });
  }

  function drawChart(element) {
    if (typeof Plotly === "undefined") return;
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    var layout = Object.assign({
      margin: { l: 48, r: 16, t: 32, b: 40 },
      height: 230,
      font: { family: "system-ui, 'Microsoft YaHei', 'PingFang SC', 'Noto Sans CJK SC', sans-serif", size: 12 },
      legend: { orientation: "h", y: -0.2 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)"
    }, spec.layout || {});
    Plotly.newPlot(element, spec.data, layout, { displaylogo: false, responsive: true, showLink: false, showSendToCloud: false, showEditInChartStudio: false, modeBarButtonsToRemove: ["sendDataToCloud", "lasso2d", "select2d"] });
  }

  function confirmForms() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  function autoSubmit() {
    Array.prototype.forEach.call(document.querySelectorAll("select[data-autosubmit]"), function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), drawChart);
    confirmForms();
    autoSubmit();
  });
})();
