// Sequelize 6's ordinary operations (over node-postgres), each run several times with other
// values and sizes, for the ORM corpus test (tests/tests/suite/orm_corpus.rs). Before each run of an
// operation it sends `SELECT 'pgscope-op:<name>'`.
//
// usage: node sequelize_app.js HOST PORT DBNAME   (NODE_PATH must reach sequelize and pg)

const { Sequelize, DataTypes, Op } = require("sequelize");

const [host, port, database] = process.argv.slice(2);

async function main() {
  const sequelize = new Sequelize(database, "postgres", "", {
    host,
    port: Number(port),
    dialect: "postgres",
    logging: false,
    pool: { max: 1, min: 0 },
  });
  const Item = sequelize.define(
    "Item",
    { name: DataTypes.STRING, n: DataTypes.INTEGER },
    { tableName: "sq_item", timestamps: false },
  );
  const mark = (op, options = {}) => sequelize.query(`SELECT 'pgscope-op:${op}'`, options);
  await sequelize.sync();
  await Item.bulkCreate(Array.from({ length: 50 }, (_, i) => ({ name: `seed ${i}`, n: i })));

  const sizes = [1, 3, 7, 12];
  for (let run = 0; run < sizes.length; run++) {
    const size = sizes[run];
    const ids = Array.from({ length: size + 1 }, (_, i) => i + 1);
    await mark("find_by_pk");
    await Item.findByPk(run + 1);
    await mark("find_in");
    await Item.findAll({ where: { id: { [Op.in]: ids } }, order: [["id", "DESC"]] });
    await mark("find_range");
    await Item.findAll({ where: { n: { [Op.gte]: run, [Op.lt]: run + size } }, limit: 10 });
    await mark("count");
    await Item.count({ where: { name: { [Op.like]: `seed ${run}%` } } });
    await mark("bulk_create");
    await Item.bulkCreate(ids.map((i) => ({ name: `bulk ${run} ${i}`, n: i })));
    await mark("update");
    await Item.update({ n: run }, { where: { id: run + 2 } });
    await mark("nested_transaction");
    await sequelize.transaction(async (outer) => {
      await Item.update({ name: `tx ${run}` }, { where: { id: run + 3 }, transaction: outer });
      await sequelize.transaction({ transaction: outer }, async (inner) => {
        await Item.update(
          { name: `sp ${run}`, n: run },
          { where: { id: run + 4 }, transaction: inner },
        );
      });
      try {
        await sequelize.transaction({ transaction: outer }, async (inner) => {
          await Item.destroy({ where: { id: run + 5 }, transaction: inner });
          throw new Error("roll back the savepoint");
        });
      } catch (err) {
        if (err.message !== "roll back the savepoint") throw err;
      }
    });
    await mark("destroy");
    await Item.destroy({ where: { name: { [Op.like]: `bulk ${run} %` } } });
  }
  await mark("done");
  await sequelize.close();
  console.log("ok");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
