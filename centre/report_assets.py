"""The weekly report page's own CSS and script (the maps: trail with accuracy circles,
places, alerts and zones; the heatmap with a day selector; a blank-map fallback when the
tile server cannot be reached). The script records errors in #errors and sets
body[data-ready] when it has run to its end, which the tests check in Chromium."""

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#202124}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 8px}
.meta,.small,.legend,.note{color:#5f6368;font-size:12px}
#figures{display:flex;gap:12px;flex-wrap:wrap}
.fig{border:1px solid #dadce0;border-radius:6px;padding:8px 12px;min-width:150px}
.fig b{display:block;font-size:18px}.fig span{color:#5f6368;font-size:12px}
.map{height:460px;border:1px solid #dadce0;background:#eef0f1}
table{border-collapse:collapse;margin:4px 0}td,th{border-bottom:1px solid #e8eaed;
padding:3px 8px;text-align:left;font-size:13px}th{background:#f1f3f4}
td.none{color:#80868b}.ok{color:#188038}.bad{color:#c5221f}
.sym{font-size:16px;font-weight:bold}
#timeline .grid{stroke:#e8eaed}#timeline .hour,#timeline .day{font-size:11px;fill:#5f6368}
#timeline .curfew{fill:none;stroke:#7b1fa2;stroke-width:1.5}
#timeline .curfew.breach{stroke:#c5221f;stroke-width:2.5}
#timeline .alert{font-size:14px;font-weight:bold}
.key{display:inline-block;width:12px;height:12px;margin:0 3px 0 10px;vertical-align:middle}
.curfewkey{border:2px solid #7b1fa2}
.alert-icon{font-size:18px;font-weight:bold;text-shadow:0 0 3px #fff,0 0 3px #fff}
#errors{color:#c5221f;white-space:pre-wrap}
footer pre{font-size:10px;white-space:pre-wrap}
@media print{.map{height:380px;page-break-inside:avoid}h2{page-break-after:avoid}}
"""

_COMMON = """
window.addEventListener('error',function(e){document.getElementById('errors').textContent+=
  'Script error: '+e.message+'\\n'});
var D=JSON.parse(document.getElementById('data').textContent);
"""

SCRIPT_NOMAP = _COMMON + "document.body.setAttribute('data-ready','1');"

SCRIPT = (
    _COMMON
    + """
(function(){
var note=document.getElementById('basemap-note');
function blank(why){note.textContent='Street map not available ('+why+'): the maps show the '+
  'trail on a blank background.';note.className='note bad';}
function base(map){
  if(!D.tiles){return;}
  var ok=0,layer=L.tileLayer(D.tiles,{maxZoom:19,attribution:D.attribution});
  layer.on('tileload',function(){ok++;});
  layer.on('tileerror',function(){if(!ok){blank('offline, or the tile server refused');}});
  if(navigator.onLine===false){blank('offline');}
  layer.addTo(map);
}
function zones(map){
  D.zones.forEach(function(z){
    var st={color:z.kind==='exclusion'?'#c5221f':'#188038',weight:1.5,fillOpacity:0.08};
    var s=z.circle?L.circle([z.circle[0],z.circle[1]],Object.assign({radius:z.circle[2]},st))
                  :L.polygon(z.polygons,st);
    s.bindTooltip(z.id+' ('+(z.curfew?'curfew':z.kind)+')').addTo(map);
  });
}
var canvas=L.canvas();
var map=L.map('map',{preferCanvas:true});
base(map);zones(map);
var pts=D.trail.map(function(p){return [p[0],p[1]];});
var bounds=L.latLngBounds(pts.length?pts:[[0,0]]);
var acc=L.layerGroup();
D.trail.forEach(function(p){if(p[2]>0){L.circle([p[0],p[1]],{radius:p[2],renderer:canvas,
  stroke:false,fillColor:'#1967d2',fillOpacity:0.04}).addTo(acc);}});
acc.addTo(map);
L.polyline(pts,{color:'#1967d2',weight:2,opacity:0.8}).addTo(map);
D.places.forEach(function(p){L.circleMarker([p.lat,p.lon],{radius:7,color:'#202124',weight:2,
  fillColor:p.label==='home'?'#188038':p.label==='work'?'#1967d2':'#12b5cb',fillOpacity:0.9})
  .bindTooltip(p.label+': '+p.hours+' h, '+p.visits+' visits',{permanent:p.id<=4})
  .addTo(map);});
D.alerts.forEach(function(a){L.marker([a.lat,a.lon],{icon:L.divIcon({className:'',
  html:'<span class="alert-icon" style="color:'+a.symbol[1]+'">'+a.symbol[0]+'</span>',
  iconSize:[18,18]})}).bindTooltip(a.t+' '+a.alert+(a.zone?' '+a.zone:'')).addTo(map);});
L.control.layers(null,{'accuracy circles':acc},{collapsed:false}).addTo(map);
map.fitBounds(bounds.pad(0.05));

var heat=L.map('heat',{preferCanvas:true});base(heat);zones(heat);
var hl=L.layerGroup().addTo(heat);
function draw(day){
  hl.clearLayers();
  var cells=day?D.heat.days[day]:D.heat.period;
  var top=cells.reduce(function(m,c){return Math.max(m,c.seconds);},1);
  cells.forEach(function(c){var f=Math.sqrt(c.seconds/top);
    L.polygon(c.boundary,{weight:0.5,color:'#b3261e',fillColor:'#d93025',fillOpacity:0.1+0.7*f})
    .bindTooltip((c.seconds/3600).toFixed(1)+' h').addTo(hl);});
  document.getElementById('heat').setAttribute('data-cells',hl.getLayers().length);
}
draw('');heat.fitBounds(bounds.pad(0.05));
document.getElementById('heatday').addEventListener('change',function(e){draw(e.target.value);});
})();
document.body.setAttribute('data-ready','1');
"""
)

METHOD_NOTE = (
    "Positions are the tag's own signed fixes as the bridge verified and stored them; each has "
    "an accuracy radius (the circles). Stay points: the wearer stayed within 150 m for at least "
    "10 minutes (gaps over 30 minutes end a stay); frequent places group stays within 200 m "
    "and take their label from the zone table (the approved address of the curfew) or, where "
    "it says nothing, from when the wearer is there (most night hours: home; most weekday "
    "daytime hours on two days or more: work). Curfew minutes are counted two ways: by the "
    "tag's own signed curfew_breach/curfew_clear alerts (the evidence), and by the fixes whose "
    "whole accuracy circle lies outside the address; fixes whose circle straddles the boundary "
    "count as unsure, never as a breach, and a fix speaks for at most 5 minutes. Data gaps are "
    "stretches of 15 minutes or more without a fix, with what the tag's records say about them. "
    "Ask `emtag where` for the position at a given time with its uncertainty, and `emtag "
    "export` for the evidence bundle of any period."
)
