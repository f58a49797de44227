// The charts of the big screen: Apache ECharts, only the parts the screen draws (line and
// bar charts on a grid, their tooltip and legend, the canvas renderer), so the bundle stays
// a fraction of the full library. Exposed as window.echarts ({init, graphic, ...}).
import { init, use, getInstanceByDom, dispose } from "echarts/core";
import { LineChart, BarChart } from "echarts/charts";
import { GridComponent, TooltipComponent, LegendComponent, TitleComponent,
  GraphicComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

use([LineChart, BarChart, GridComponent, TooltipComponent, LegendComponent, TitleComponent,
  GraphicComponent, CanvasRenderer]);
window.echarts = { init, getInstanceByDom, dispose };
