// The charts of the big screen: Apache ECharts, only the parts the screen draws (line and
// bar charts on a grid, their legend, the canvas renderer), so the bundle stays a fraction
// of the full library. No tooltip: nobody points at a kiosk, and ECharts' tooltip is HTML
// with inline styles, which the page's CSP refuses. Exposed as window.echarts.
import { init, use, getInstanceByDom, dispose } from "echarts/core";
import { LineChart, BarChart } from "echarts/charts";
import { GridComponent, LegendComponent, TitleComponent, GraphicComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

use([LineChart, BarChart, GridComponent, LegendComponent, TitleComponent,
  GraphicComponent, CanvasRenderer]);
window.echarts = { init, getInstanceByDom, dispose };
